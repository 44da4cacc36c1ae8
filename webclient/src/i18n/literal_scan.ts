/**
 * Finds English text written straight into views instead of going through `t()`: JSX text,
 * text-bearing attributes (aria-label, title, placeholder, alt, label) and strings rendered
 * from expressions, plus literals handed to confirm()/alert()/setError(). Used by the
 * no_literals test over src/ui; a parser (TypeScript's own) rather than regular expressions,
 * so comparisons (`kind === "mention"`), class names and test ids are not mistaken for text.
 */
import ts from "typescript";

export interface Literal {
  file: string;
  line: number;
  text: string;
}

/** Attributes whose value people read or hear. */
const TEXT_ATTRIBUTES = new Set([
  "aria-label",
  "aria-description",
  "aria-placeholder",
  "aria-roledescription",
  "aria-valuetext",
  "title",
  "placeholder",
  "alt",
  "label",
]);

/** Calls whose arguments are keys or wire values, not text. */
const KEY_CALLS = new Set(["t", "termOf", "formatLabel"]);
/** Calls whose string arguments are shown to the person. */
const TEXT_CALLS = /^(confirm|alert|prompt|set[A-Z]\w*Error|setError)$/;
/** State setters: their string arguments are text when they read as a sentence ("Copied."). */
const SETTERS = /^set[A-Z]/;
/** Words with a space or a sentence's end: `setStatus({ text: "Saved." })`, not `setSide("none")`. */
const SENTENCE = /\p{L}.*[\s.!?…:]|\p{L}[.!?…]$/u;

const COMPARISONS = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
  ts.SyntaxKind.InKeyword,
]);

/** Text with at least two letters of any script is something to translate. */
const WORDS = /\p{L}{2,}/u;

function calleeName(call: ts.CallExpression): string {
  const callee = call.expression;
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  return "";
}

export function scanSource(file: string, source: string, allow: ReadonlySet<string> = new Set()): Literal[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX);
  const scanner = new Scanner(sf, allow);
  scanner.visit(sf, false);
  return scanner.found;
}

/** Walks a file; `inText` is true where a string would be rendered as text. */
class Scanner {
  readonly found: Literal[] = [];

  constructor(
    private readonly sf: ts.SourceFile,
    private readonly allow: ReadonlySet<string>,
  ) {}

  visit(node: ts.Node, inText: boolean | "sentence"): void {
    if (ts.isJsxText(node)) return this.report(node, node.text);
    if (ts.isJsxAttribute(node)) return this.attribute(node);
    if (ts.isJsxExpression(node) && node.parent && (ts.isJsxElement(node.parent) || ts.isJsxFragment(node.parent))) {
      if (node.expression) this.visit(node.expression, true);
      return;
    }
    if (ts.isCallExpression(node)) return this.call(node, inText);
    if (ts.isBinaryExpression(node) && COMPARISONS.has(node.operatorToken.kind)) return;
    if (ts.isBlock(node) && inText) return this.body(node);
    if (ts.isElementAccessExpression(node)) return this.visit(node.expression, inText);
    if (ts.isJsxElement(node) || ts.isJsxSelfClosingElement(node) || ts.isJsxFragment(node)) {
      ts.forEachChild(node, (child) => this.visit(child, false));
      return;
    }
    if (inText && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
      if (inText === "sentence" && !SENTENCE.test(node.text)) return;
      return this.report(node, node.text);
    }
    if (inText && ts.isTemplateExpression(node)) return this.template(node);
    ts.forEachChild(node, (child) => this.visit(child, inText));
  }

  private attribute(node: ts.JsxAttribute): void {
    const isText = TEXT_ATTRIBUTES.has(node.name.getText(this.sf));
    const init = node.initializer;
    if (init && ts.isStringLiteral(init)) {
      if (isText) this.report(init, init.text);
    } else if (init) {
      this.visit(init, isText);
    }
  }

  private call(node: ts.CallExpression, inText: boolean | "sentence"): void {
    const name = calleeName(node);
    if (KEY_CALLS.has(name)) return;
    const argsAreText = TEXT_CALLS.test(name) ? true : inText || (SETTERS.test(name) ? "sentence" : false);
    this.visit(node.expression, inText);
    for (const arg of node.arguments) this.visit(arg, argsAreText);
  }

  /** In a function body only what it returns is rendered; the rest are ids, keys and values. */
  private body(node: ts.Block): void {
    for (const statement of node.statements) {
      if (ts.isReturnStatement(statement) && statement.expression) this.visit(statement.expression, true);
      else this.visit(statement, false);
    }
  }

  private template(node: ts.TemplateExpression): void {
    this.report(node.head, node.head.text);
    for (const span of node.templateSpans) {
      this.visit(span.expression, true);
      this.report(span.literal, span.literal.text);
    }
  }

  private report(node: ts.Node, raw: string): void {
    const text = raw.replace(/\s+/g, " ").trim();
    if (!WORDS.test(text) || this.allow.has(text)) return;
    this.found.push({ file: this.sf.fileName, line: this.sf.getLineAndCharacterOfPosition(node.getStart(this.sf)).line + 1, text });
  }
}
