// Draws the app icons (an andon lamp on red) as PNGs with no dependencies:
// `npm run icons` rewrites public/icons/. The PNGs are committed; rerun after a design change.
import { mkdirSync, writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const OUT = new URL("../public/icons/", import.meta.url);
const RED = [179, 38, 30];
const WHITE = [255, 255, 255];
const AMBER = [255, 193, 7];

function crc32(buf) {
  let c, crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  const S = 4; // supersampling per axis, for smooth edges
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const [pr, pg, pb, pa] = pixel((x + (sx + 0.5) / S) / size, (y + (sy + 0.5) / S) / size);
          r += pr * pa; g += pg * pa; b += pb * pa; a += pa;
        }
      }
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = a ? Math.round(r / a) : 0;
      raw[o + 1] = a ? Math.round(g / a) : 0;
      raw[o + 2] = a ? Math.round(b / a) : 0;
      raw[o + 3] = Math.round((a / (S * S)) * 255);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const inRoundedSquare = (x, y, inset, radius) => {
  const lo = inset, hi = 1 - inset;
  if (x < lo || x > hi || y < lo || y > hi) return false;
  const cx = Math.min(Math.max(x, lo + radius), hi - radius);
  const cy = Math.min(Math.max(y, lo + radius), hi - radius);
  return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
};

/** The lamp: a white ring around an amber light, scaled by `k` around the centre. */
function lamp(x, y, k) {
  const d = Math.hypot(x - 0.5, y - 0.5) / k;
  if (d <= 0.2) return [...AMBER, 1];
  if (d <= 0.25) return [...WHITE, 1];
  if (d <= 0.3) return null;
  if (d <= 0.36) return [...WHITE, 1];
  return null;
}

const icons = {
  // Rounded tile with transparent corners ("any" purpose).
  "icon-192.png": [192, (x, y) => (inRoundedSquare(x, y, 0.04, 0.2) ? lamp(x, y, 1) ?? [...RED, 1] : [0, 0, 0, 0])],
  "icon-512.png": [512, (x, y) => (inRoundedSquare(x, y, 0.04, 0.2) ? lamp(x, y, 1) ?? [...RED, 1] : [0, 0, 0, 0])],
  // Full bleed, the lamp inside the 80 % safe zone ("maskable").
  "icon-maskable-512.png": [512, (x, y) => lamp(x, y, 0.8) ?? [...RED, 1]],
  // iOS ignores transparency: full square.
  "apple-touch-icon.png": [180, (x, y) => lamp(x, y, 0.9) ?? [...RED, 1]],
  "favicon-32.png": [32, (x, y) => (inRoundedSquare(x, y, 0, 0.2) ? lamp(x, y, 1.2) ?? [...RED, 1] : [0, 0, 0, 0])],
  // Android status-bar badge: white shape on transparency.
  "badge-96.png": [96, (x, y) => (lamp(x, y, 1.2) ? [...WHITE, 1] : [0, 0, 0, 0])],
};

mkdirSync(OUT, { recursive: true });
for (const [name, [size, pixel]] of Object.entries(icons)) {
  writeFileSync(new URL(name, OUT), png(size, pixel));
  console.log(`wrote public/icons/${name} (${size}x${size})`);
}
