/**
 * The safe Markdown subset messages are shown in: bold, italic, inline code, code blocks,
 * lists, quotes and links (written `[text](https://…)`, `<https://…>` or a bare http(s) URL).
 *
 * Parsing is markdown-it's (raw HTML off, only the rules above on); what it produces then
 * goes through DOMPurify with an allow-list of exactly those elements, so even a parser bug
 * cannot bring a script, an event handler or a `javascript:`/`data:` URL into the page.
 * Links open in a new tab with `rel="noopener noreferrer"`. Mentions and search terms are
 * marked afterwards on the sanitised tree's text nodes (as elements made here, text by
 * `textContent`), so they stay highlighted inside formatted text.
 */
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";
import { mentionSegments } from "../state/mentions";

const md = new MarkdownIt("zero", { html: false, linkify: true, breaks: true, typographer: false });
md.enable(["emphasis", "backticks", "fence", "code", "list", "blockquote", "link", "autolink", "linkify", "escape", "entity", "newline"]);
// Bare-URL detection: http(s) only. No "www." guesses, no e-mail, ftp or protocol-relative links.
md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
md.linkify.add("ftp:", null).add("//", null).add("mailto:", null);
md.validateLink = isSafeHref;
// One <br> per line break; the soft break's "\n" would show twice under `white-space: pre-wrap`.
md.renderer.rules.softbreak = () => "<br>";
md.renderer.rules.hardbreak = () => "<br>";

const ALLOWED_TAGS = ["p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a"];
const ALLOWED_ATTR = ["href", "start"];

/** Only absolute http(s) URLs become links. */
export function isSafeHref(url: string): boolean {
  const trimmed = url.trim();
  if (!/^https?:\/\//i.test(trimmed)) return false;
  try {
    const parsed = new URL(trimmed);
    return parsed.protocol === "http:" || parsed.protocol === "https:";
  } catch {
    return false;
  }
}

let purifier: ReturnType<typeof DOMPurify> | null = null;

/** A DOMPurify instance of our own, so its hook does not change other callers' results. */
function purify(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName !== "A") return;
    const href = node.getAttribute("href");
    if (href === null || !isSafeHref(href)) {
      node.removeAttribute("href");
      return;
    }
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  });
  purifier = p;
  return p;
}

export interface MentionOptions {
  mentions: readonly string[];
  nameOf: (userId: string) => string | null;
  meId: string | null;
}

export interface FormatOptions {
  mention?: MentionOptions;
  /** Words to wrap in <mark> (search hits), matched case-insensitively. */
  marks?: readonly string[];
  /** False inside something that is already a link (a search hit): links become plain text. */
  links?: boolean;
}

export interface Formatted {
  /** Sanitised HTML. */
  html: string;
  /** True when the whole message is one paragraph: `html` is that paragraph's inside. */
  inline: boolean;
}

// Characters and shapes that can make Markdown; text without any of them is shown as typed.
const MAYBE_MARKDOWN = /[*_`>[\]\\<&]|https?:\/\/|^\s*(?:[-+]|\d{1,9}[.)])\s|^ {4}|^\s*~~~/im;

/** Results by input: a room opened again, or a row re-rendered, costs no parsing. */
const CACHE_LIMIT = 2_000;
const cache = new Map<string, Formatted>();

function cacheKey(text: string, opts: FormatOptions): string {
  const m = opts.mention;
  // The names are part of the input: a member renamed must not keep the old highlight.
  const who = m ? `${m.meId ?? ""}\u0002${m.mentions.map((id) => `${id}=${m.nameOf(id) ?? ""}`).join("\u0002")}` : "";
  return `${opts.links === false ? 0 : 1}\u0001${(opts.marks ?? []).join("\u0002")}\u0001${who}\u0001${text}`;
}

/** The message text as sanitised HTML of the safe subset, with mentions and marks applied. */
export function formatMessage(text: string, opts: FormatOptions = {}): Formatted {
  const key = cacheKey(text, opts);
  const known = cache.get(key);
  if (known) return known;
  const out = render(text, opts);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, out);
  return out;
}

function render(text: string, opts: FormatOptions): Formatted {
  const doc = window.document;
  const root = doc.createElement("div");
  if (MAYBE_MARKDOWN.test(text)) {
    const fragment = purify().sanitize(md.render(text), {
      ALLOWED_TAGS,
      ALLOWED_ATTR,
      ALLOW_DATA_ATTR: false,
      RETURN_DOM_FRAGMENT: true,
    });
    root.appendChild(fragment);
    // markdown-it ends each block with a newline: drop those between blocks.
    for (const node of Array.from(root.childNodes)) if (node.nodeType === 3 && !node.textContent?.trim()) node.remove();
  } else {
    const p = doc.createElement("p");
    appendLines(p, text.trim());
    if (p.childNodes.length > 0) root.appendChild(p);
  }
  if (opts.links === false) {
    for (const a of Array.from(root.querySelectorAll("a"))) a.replaceWith(...Array.from(a.childNodes));
  }
  if (opts.mention && opts.mention.mentions.length > 0) markMentions(root, opts.mention);
  const marks = (opts.marks ?? []).filter((m) => m.trim() !== "");
  if (marks.length > 0) markTerms(root, marks);
  const only = root.children.length === 1 && root.firstElementChild?.tagName === "P" ? root.firstElementChild : null;
  if (only && root.childNodes.length === 1) return { html: only.innerHTML, inline: true };
  return { html: root.innerHTML, inline: root.childNodes.length === 0 };
}

/**
 * What the message says as one line of plain text, for toasts and notifications (which show
 * no formatting): `**bold**` is "bold", a link is its text, blocks and line breaks are spaces.
 * The text is taken from the same sanitised rendering the message list shows.
 */
export function plainText(text: string): string {
  if (!MAYBE_MARKDOWN.test(text)) return text.split(/\s+/).join(" ").trim();
  const { html } = formatMessage(text, { links: false });
  const root = window.document.createElement("div");
  root.innerHTML = html;
  for (const br of Array.from(root.querySelectorAll("br"))) br.replaceWith(" ");
  for (const block of Array.from(root.querySelectorAll("p, li, pre, blockquote"))) block.append(" ");
  return (root.textContent ?? "").split(/\s+/).join(" ").trim();
}

function appendLines(parent: HTMLElement, text: string): void {
  text.split("\n").forEach((line, i) => {
    if (i > 0) parent.appendChild(parent.ownerDocument.createElement("br"));
    if (line) parent.appendChild(parent.ownerDocument.createTextNode(line));
  });
}

function textNodes(root: Node, skip: (el: Element) => boolean): Text[] {
  const out: Text[] = [];
  const walk = (node: Node) => {
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === 3) out.push(child as Text);
      else if (child.nodeType === 1 && !skip(child as Element)) walk(child);
    }
  };
  walk(root);
  return out;
}

function markMentions(root: HTMLElement, opts: MentionOptions): void {
  // Code is quoted text: an "@name" inside it is not a mention.
  for (const node of textNodes(root, (el) => el.tagName === "CODE" || el.tagName === "PRE")) {
    const segments = mentionSegments(node.data, opts.mentions, opts.nameOf, opts.meId);
    if (!segments.some((s) => s.mention)) continue;
    const doc = node.ownerDocument;
    const parts = segments.map((seg) => {
      if (!seg.mention) return doc.createTextNode(seg.text);
      const span = doc.createElement("span");
      span.className = seg.mention.isMe ? "mention mention-me" : "mention";
      span.textContent = seg.text;
      return span;
    });
    node.replaceWith(...parts);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function markTerms(root: HTMLElement, terms: readonly string[]): void {
  const unique = [...new Set(terms.map((t) => t.trim()))].sort((a, b) => b.length - a.length);
  const pattern = new RegExp(unique.map(escapeRegExp).join("|"), "giu");
  for (const node of textNodes(root, (el) => el.tagName === "MARK")) {
    const text = node.data;
    const parts: Node[] = [];
    let pos = 0;
    for (const m of text.matchAll(pattern)) {
      if (m[0] === "") continue;
      if (m.index > pos) parts.push(node.ownerDocument.createTextNode(text.slice(pos, m.index)));
      const mark = node.ownerDocument.createElement("mark");
      mark.textContent = m[0];
      parts.push(mark);
      pos = m.index + m[0].length;
    }
    if (parts.length === 0) continue;
    if (pos < text.length) parts.push(node.ownerDocument.createTextNode(text.slice(pos)));
    node.replaceWith(...parts);
  }
}

