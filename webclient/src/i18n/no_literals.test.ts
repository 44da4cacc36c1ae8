import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { scanSource } from "./literal_scan";

const UI = fileURLToPath(new URL("../ui", import.meta.url));

/**
 * Text that is the same in every language. Keep it short: anything a person reads as a
 * sentence or a label belongs in the locale files.
 */
const ALLOWED = new Set([
  // The product's name.
  "Andon",
]);

function viewFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return viewFiles(path);
    return entry.name.endsWith(".tsx") && !entry.name.endsWith(".test.tsx") ? [path] : [];
  });
}

describe("no_literals: the views' text goes through t()", () => {
  it("finds no English text written into src/ui/**/*.tsx", () => {
    const files = viewFiles(UI);
    expect(files.length).toBeGreaterThan(20);
    const found = files.flatMap((file) => scanSource(relative(UI, file), readFileSync(file, "utf8"), ALLOWED));
    expect(found.map((l) => `${l.file}:${l.line}: ${JSON.stringify(l.text)}`)).toEqual([]);
  });

  it("catches text, text attributes, rendered strings and confirm() messages", () => {
    const source = `
      export function V({ n, kind }: { n: number; kind: string }) {
        const go = () => {
          if (confirm("Delete it?")) setError(\`Failed: \${n}\`);
          setStatus({ error: false, text: "Saved." });
          setSide("none");
          setCopied(t("copied"));
        };
        return (
          <section aria-label="Main area" class="page wide" data-testid="page-main">
            <h1>Incident rooms</h1>
            <input placeholder='Search words' title={n > 1 ? "Many items" : t("one.item")} />
            {kind === "mention" ? <b>{\`\${n} unread\`}</b> : "Nothing here"}
            <img alt="Andon" src="/icons/x.png" />
            <p>{t("rooms.title")} · 42</p>
            <button onClick={go}>✕</button>
          </section>
        );
      }`;
    const texts = scanSource("fixture.tsx", source, new Set(["Andon"])).map((l) => l.text);
    expect(texts).toEqual([
      "Delete it?",
      "Failed:",
      "Saved.",
      "Main area",
      "Incident rooms",
      "Search words",
      "Many items",
      "unread",
      "Nothing here",
    ]);
  });
});
