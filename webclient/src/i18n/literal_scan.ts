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
  const found: Literal[] = [];
  const report = (node: ts.Node, raw: string) => {
    const text = raw.replace(/\s+/g, " ").trim();
    if (!WORDS.test(text) || allow.has(text)) return;
    found.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, text });
  };

  const visit = (node: ts.Node, inText: boolean): void => {
    if (ts.isJsxText(node)) return report(node, node.text);
    if (ts.isJsxAttribute(node)) {
      const name = node.name.getText(sf);
      const init = node.initializer;
      const isText = TEXT_ATTRIBUTES.has(name);
      if (init && ts.isStringLiteral(init)) {
        if (isText) report(init, init.text);
      } else if (init) {
        visit(init, isText);
      }
      return;
    }
    if (ts.isJsxExpression(node) && node.parent && (ts.isJsxElement(node.parent) || ts.isJsxFragment(node.parent))) {
      if (node.expression) visit(node.expression, true);
      return;
    }
    if (ts.isCallExpression(node)) {
      const name = calleeName(node);
      if (KEY_CALLS.has(name)) return;
      if (TEXT_CALLS.test(name)) {
        visit(node.expression, inText);
        for (const arg of node.arguments) visit(arg, true);
        return;
      }
    }
    if (ts.isBinaryExpression(node) && COMPARISONS.has(node.operatorToken.kind)) return;
    // In a function body only what it returns is rendered; the rest are ids, keys and values.
    if (ts.isBlock(node) && inText) {
      for (const statement of node.statements) {
        if (ts.isReturnStatement(statement) && statement.expression) visit(statement.expression, true);
        else visit(statement, false);
      }
      return;
    }
    if (ts.isElementAccessExpression(node)) return visit(node.expression, inText);
    if (ts.isJsxElement(node) || ts.isJsxSelfClosingElement(node) || ts.isJsxFragment(node)) {
      ts.forEachChild(node, (child) => visit(child, false));
      return;
    }
    if (inText && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) return report(node, node.text);
    if (inText && ts.isTemplateExpression(node)) {
      report(node.head, node.head.text);
      for (const span of node.templateSpans) {
        visit(span.expression, true);
        report(span.literal, span.literal.text);
      }
      return;
    }
    ts.forEachChild(node, (child) => visit(child, inText));
  };
  visit(sf, false);
  return found;
}
