// @vitest-environment jsdom
import { cleanup, render } from "@testing-library/preact";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadFormatter } from "./formatted_text";
import { HighlightedText } from "./highlighted_text";
import { formatMessage, isSafeHref } from "./markdown";
import { IncidentCard, MessageBody } from "./message_body";

afterEach(cleanup);
// The formatter is its own chunk in the app; here it is loaded once up front.
beforeAll(async () => {
  await loadFormatter();
});

const nameOf = (id: string) => ({ "me@x": "Me", "bob@x": "Bob Lin", "evil@x": '<img src=x onerror="alert(1)">' })[id] ?? null;

function html(text: string, opts: Parameters<typeof formatMessage>[1] = {}): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = formatMessage(text, opts).html;
  return div;
}

/** Nothing in the tree can run: no script-capable element, no on* attribute, no URL but http(s). */
function expectInert(root: Element): void {
  for (const el of Array.from(root.querySelectorAll("*"))) {
    expect(["SCRIPT", "IMG", "IFRAME", "OBJECT", "EMBED", "SVG", "MATH", "STYLE", "FORM", "INPUT", "LINK", "META", "BASE"]).not.toContain(
      el.tagName.toUpperCase(),
    );
    for (const attr of Array.from(el.attributes)) {
      expect(attr.name.toLowerCase().startsWith("on")).toBe(false);
      expect(["style", "srcdoc", "src", "formaction", "xlink:href", "action"]).not.toContain(attr.name.toLowerCase());
      if (attr.name === "href") expect(attr.value).toMatch(/^https?:\/\//);
    }
  }
}

describe("the Markdown subset", () => {
  it("renders bold, italic and inline code", () => {
    const root = html("**bold** and *italic* and _also_ and `x < y`");
    expect(root.querySelector("strong")?.textContent).toBe("bold");
    expect([...root.querySelectorAll("em")].map((e) => e.textContent)).toEqual(["italic", "also"]);
    expect(root.querySelector("code")?.textContent).toBe("x < y");
    expect(formatMessage("**bold**").inline).toBe(true);
  });

  it("renders code blocks, lists and quotes as blocks", () => {
    const root = html("Steps:\n\n1. stop line 3\n2. call @Bob Lin\n\n- a\n- b\n\n> quoted **text**\n\n```\nrm -rf <dir>\n  indented\n```");
    expect(root.querySelectorAll("ol > li")).toHaveLength(2);
    expect(root.querySelectorAll("ul > li")).toHaveLength(2);
    expect(root.querySelector("blockquote strong")?.textContent).toBe("text");
    expect(root.querySelector("pre > code")?.textContent).toBe("rm -rf <dir>\n  indented\n");
    expect(formatMessage("- a\n- b").inline).toBe(false);
  });

  it("keeps line breaks as <br> and leaves headings, tables and images as typed", () => {
    const root = html("line one\nline two\n# not a heading\n![x](https://e.x/i.png)");
    expect(root.querySelectorAll("br")).toHaveLength(3);
    expect(root.querySelector("h1, img, table")).toBeNull();
    expect(root.textContent).toContain("# not a heading");
  });

  it("links http(s) URLs, bare or written as links, in a new tab without opener or referrer", () => {
    const root = html("Runbook https://wiki.example.com/run?x=1&y=2 and [dashboard](http://grafana.local/d/1) and <https://a.example/b>");
    const links = [...root.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual([
      "https://wiki.example.com/run?x=1&y=2",
      "http://grafana.local/d/1",
      "https://a.example/b",
    ]);
    for (const a of links) {
      expect(a.getAttribute("target")).toBe("_blank");
      expect(a.getAttribute("rel")).toBe("noopener noreferrer");
    }
  });

  it("does not guess links: no www., e-mail, ftp or protocol-relative", () => {
    const root = html("www.example.com ops@example.com ftp://files.example.com //evil.example/x");
    expect(root.querySelector("a")).toBeNull();
  });

  it.each([
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\nscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    "[x](/relative/path)",
    "[x](//evil.example)",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
  ])("never makes a link of %s", (payload) => {
    const root = html(payload);
    expectInert(root);
    expect(root.querySelector("a")).toBeNull();
  });

  it.each([
    '<img src=x onerror="alert(1)">',
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    '<iframe srcdoc="<script>alert(1)</script>">',
    '<details open ontoggle="alert(1)">',
    "**<b onmouseover=alert(1)>x</b>**",
    "`<script>alert(1)</script>`",
    "```\n</code></pre><img src=x onerror=alert(1)>\n```",
    '[<img src=x onerror=alert(1)>](https://ok.example)',
    '[x](https://ok.example "title onmouseover=alert(1)")',
    '[x](https://ok.example"onmouseover="alert(1))',
    "> <style>*{display:none}</style>",
    "<!-- comment --><math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
  ])("shows raw HTML as text: %s", (payload) => {
    const root = html(payload);
    expectInert(root);
  });

  it("shows raw HTML literally rather than dropping it", () => {
    expect(html("<b>not bold</b> <img src=x>").textContent).toBe("<b>not bold</b> <img src=x>");
  });

  it("accepts only absolute http(s) URLs as hrefs", () => {
    expect(isSafeHref("https://x.example/a")).toBe(true);
    expect(isSafeHref(" http://x.example")).toBe(true);
    for (const bad of ["javascript:alert(1)", "data:text/html,x", "/local", "//x.example", "mailto:a@b", "https//x", ""]) {
      expect(isSafeHref(bad)).toBe(false);
    }
  });
});

describe("mentions inside formatted text", () => {
  it("highlights a mention in bold, in a list and in a quote, but not in code", () => {
    const root = html("**ping @Bob Lin now**\n\n- @Me check\n\n> @Bob Lin said\n\n`@Bob Lin`", {
      mention: { mentions: ["bob@x", "me@x"], nameOf, meId: "me@x" },
    });
    const spans = [...root.querySelectorAll("span.mention")];
    expect(spans.map((s) => [s.textContent, s.parentElement!.tagName, s.classList.contains("mention-me")])).toEqual([
      ["@Bob Lin", "STRONG", false],
      ["@Me", "LI", true],
      ["@Bob Lin", "P", false],
    ]);
    expect(root.querySelector("code span")).toBeNull();
  });

  it("keeps a hostile display name as text", () => {
    const root = html('hey @<img src=x onerror="alert(1)"> **there**', {
      mention: { mentions: ["evil@x"], nameOf, meId: "me@x" },
    });
    expectInert(root);
    expect(root.querySelector("span.mention")?.textContent).toBe('@<img src=x onerror="alert(1)">');
  });
});

describe("the result cache", () => {
  it("answers the same input from memory, and a renamed member's mention anew", () => {
    let name = "Bob Lin";
    const opts = { mention: { mentions: ["bob@x"], nameOf: () => name, meId: "me@x" } };
    const first = formatMessage("**hi** @Bob Lin and @Robert", opts);
    expect(formatMessage("**hi** @Bob Lin and @Robert", opts)).toBe(first);
    expect(first.html).toContain('<span class="mention">@Bob Lin</span>');
    name = "Robert";
    const renamed = formatMessage("**hi** @Bob Lin and @Robert", opts);
    expect(renamed.html).toContain('<span class="mention">@Robert</span>');
    expect(renamed.html).not.toContain('<span class="mention">@Bob Lin</span>');
    expect(formatMessage("**hi** @Bob Lin and @Robert", { ...opts, links: false })).not.toBe(renamed);
  });
});

describe("search highlights inside formatted text", () => {
  it("marks the hit's words inside bold text and links become text", () => {
    const { container } = render(
      <HighlightedText html={"**pump &lt;b&gt; <mark>pressure</mark>** see https://wiki.example/<mark>pressure</mark>"} />,
    );
    const body = container.querySelector(".hit-body")!;
    expectInert(body);
    expect(body.querySelector("strong mark")?.textContent).toBe("pressure");
    expect(body.querySelectorAll("mark")).toHaveLength(2);
    expect(body.querySelector("a")).toBeNull();
    expect(body.textContent).toContain("<b>");
  });
});

describe("message bodies", () => {
  it("renders a text message's Markdown with its mentions", () => {
    const { container } = render(
      <MessageBody type="text" content={"**Line 3** down, @Bob Lin see https://runbook.example/l3"} mentions={["bob@x"]} fileUrl={null} nameOf={nameOf} meId="me@x" />,
    );
    const p = container.querySelector("p.text")!;
    expect(p.querySelector("strong")?.textContent).toBe("Line 3");
    expect(p.querySelector(".mention")?.textContent).toBe("@Bob Lin");
    expect(p.querySelector("a")?.getAttribute("href")).toBe("https://runbook.example/l3");
  });

  it("keeps hostile incident-data keys and values as text", () => {
    const { container } = render(
      <IncidentCard
        content={{
          '<img src=x onerror="alert(1)">': "<script>alert(1)</script>",
          "**bold**": "[x](javascript:alert(1))",
          nested: { '"><svg onload=alert(1)>': 1 },
        }}
      />,
    );
    expectInert(container);
    expect(container.querySelector("a, strong")).toBeNull();
    expect(container.textContent).toContain('<img src=x onerror="alert(1)">');
    expect(container.textContent).toContain("<script>alert(1)</script>");
  });
});
