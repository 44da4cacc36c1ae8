import { formatNumber, lazyTexts, t } from "../i18n";
import { useEffect, useRef, useState } from "preact/hooks";
import type { FileInfo } from "../net/schemas";
import { FormattedText } from "./formatted_text";
import type { MentionOptions } from "./markdown";
import { safeFileUrl } from "./safe_url";

/** The user-visible strings of attachments, in the current language (src/i18n/locales). */
export const ATTACHMENT_STRINGS = lazyTexts(
  {
    sharedImage: "attachment.sharedImage",
    imageUnavailable: "attachment.imageUnavailable",
    downloadFile: "attachment.downloadFile",
    file: "attachment.file",
    unavailable: "attachment.unavailable",
    close: "common.close",
    download: "attachment.download",
  },
  {
    openFull: (name: string) => t("attachment.openFull", { name }),
    imageDialog: (name: string) => t("attachment.imageDialog", { name }),
    bytes: (n: number) => t("attachment.bytes", { size: formatNumber(n) }),
    kib: (n: number) => t("attachment.kib", { size: formatNumber(n, { maximumFractionDigits: n >= 100 ? 0 : 1 }) }),
    mib: (n: number) => t("attachment.mib", { size: formatNumber(n, { maximumFractionDigits: n >= 100 ? 0 : 1 }) }),
  },
);

const S = ATTACHMENT_STRINGS;

/** 1023 → "1023 B", 2048 → "2 KB", 1572864 → "1.5 MB" (binary units, at most one decimal). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1024) return S.bytes(bytes);
  if (bytes < 1024 * 1024) return S.kib(bytes / 1024);
  return S.mib(bytes / (1024 * 1024));
}

/** "image/png" → "PNG", "application/pdf" → "PDF", "text/plain" → "TXT"-like short names. */
export function shortType(contentType: string): string {
  const base = contentType.split(";")[0]!.trim().toLowerCase();
  const known: Record<string, string> = {
    "text/plain": "TXT",
    "text/csv": "CSV",
    "application/octet-stream": "BIN",
    "application/zip": "ZIP",
    "application/json": "JSON",
    "image/svg+xml": "SVG",
    "image/jpeg": "JPEG",
  };
  if (known[base]) return known[base]!;
  const sub = base.split("/")[1] ?? base;
  const last = sub.split(/[.+-]/).pop() ?? sub;
  return last.toUpperCase().slice(0, 12);
}

function FileMeta({ info }: { info: FileInfo | null | undefined }) {
  if (!info) return null;
  return (
    <span class="file-meta" data-testid="file-meta">
      <span class="file-name">{info.filename}</span>
      <span class="file-facts">
        {" · "}
        <span class="file-size">{formatSize(info.size)}</span>
        {" · "}
        <abbr class="file-type" title={info.content_type}>
          {shortType(info.content_type)}
        </abbr>
      </span>
    </span>
  );
}

interface AttachmentProps {
  kind: "image_ref" | "file_ref";
  caption: string;
  fileUrl: string | null;
  file: FileInfo | null | undefined;
  mention?: MentionOptions | undefined;
  localPreview?: boolean | undefined;
}

/** An image or file with its name, size and type, and the caption (formatted) under it. */
export function Attachment({ kind, caption: written, fileUrl, file, mention, localPreview }: AttachmentProps) {
  // A file sent without a caption carries its name as the content: shown once, as the name.
  const caption = file && written.trim() === file.filename ? "" : written;
  const captionView = caption ? (
    <div class="caption">
      <FormattedText text={caption} {...(mention ? { mention } : {})} />
    </div>
  ) : null;
  if (kind === "image_ref") {
    const src = safeFileUrl(fileUrl, { allowBlob: localPreview === true });
    const name = file?.filename ?? (caption || S.sharedImage);
    return (
      <div class="attachment">
        {src ? <ImageWithLightbox src={src} alt={caption || file?.filename || S.sharedImage} name={name} /> : <span class="muted">{S.imageUnavailable}</span>}
        <FileMeta info={file} />
        {captionView}
      </div>
    );
  }
  const href = safeFileUrl(fileUrl);
  const label = file?.filename ?? (caption || S.downloadFile);
  return (
    <div class="attachment">
      {href ? (
        <a href={href} download={file?.filename ?? true} class="file-link">
          📎 <span>{label}</span>
        </a>
      ) : (
        <span class="muted">
          📎 {label || S.file} {S.unavailable}
        </span>
      )}
      {file ? (
        <span class="file-facts" data-testid="file-meta">
          {" "}
          <span class="file-size">{formatSize(file.size)}</span>
          {" · "}
          <abbr class="file-type" title={file.content_type}>
            {shortType(file.content_type)}
          </abbr>
        </span>
      ) : null}
      {captionView}
    </div>
  );
}

/**
 * The inline image is a button; it opens a modal <dialog> with the image at full size.
 * Esc (the dialog's own cancel), the Close button or a click on the backdrop close it,
 * and the focus returns to the image.
 */
function ImageWithLightbox({ src, alt, name }: { src: string; alt: string; name: string }) {
  const [open, setOpen] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const d = dialog.current;
    if (!d || !open) return;
    if (typeof d.showModal === "function" && !d.open) d.showModal();
    else d.setAttribute("open", "");
  }, [open]);

  const close = () => {
    const d = dialog.current;
    if (d?.open && typeof d.close === "function") d.close();
    setOpen(false);
    opener.current?.focus();
  };

  return (
    <>
      <button type="button" class="image-button" ref={opener} aria-label={S.openFull(name)} onClick={() => setOpen(true)}>
        <img src={src} alt={alt} loading="lazy" class="inline-image" />
      </button>
      {open ? (
        <dialog
          ref={dialog}
          class="lightbox"
          aria-label={S.imageDialog(name)}
          data-testid="lightbox"
          onCancel={(e) => {
            e.preventDefault();
            close();
          }}
          onClick={(e) => {
            if (e.target === e.currentTarget) close();
          }}
        >
          <div class="lightbox-bar">
            <span class="lightbox-name">{name}</span>
            <a href={src} target="_blank" rel="noopener noreferrer" class="link-button">
              {S.download}
            </a>
            <button type="button" onClick={close} autoFocus>
              {S.close}
            </button>
          </div>
          <img src={src} alt={alt} class="lightbox-image" />
        </dialog>
      ) : null}
    </>
  );
}
