import { describe, expect, it } from "vitest";
import { parseHighlighted } from "./highlight";

describe("parseHighlighted", () => {
  it("splits marked words from plain text", () => {
    expect(parseHighlighted("Equipment <mark>temperature</mark> rising")).toEqual([
      { text: "Equipment ", marked: false },
      { text: "temperature", marked: true },
      { text: " rising", marked: false },
    ]);
  });

  it("decodes the server's escaping so the text shows as typed", () => {
    expect(parseHighlighted("&lt;b&gt;5 &amp; 6&lt;/b&gt; &quot;<mark>x</mark>&quot; &#39;y&#x27;")).toEqual([
      { text: '<b>5 & 6</b> "', marked: false },
      { text: "x", marked: true },
      { text: "\" 'y'", marked: false },
    ]);
  });

  it("keeps any other tag as literal text, never as markup", () => {
    const segments = parseHighlighted('<img src=x onerror="alert(1)"><mark>hit</mark>');
    expect(segments).toEqual([
      { text: '<img src=x onerror="alert(1)">', marked: false },
      { text: "hit", marked: true },
    ]);
  });

  it("handles Chinese substrings and adjacent marks", () => {
    expect(parseHighlighted("<mark>溫度</mark><mark>過高</mark>")).toEqual([{ text: "溫度過高", marked: true }]);
  });

  it("leaves unknown entities untouched", () => {
    expect(parseHighlighted("&bogus; &#99999999;")).toEqual([{ text: "&bogus; &#99999999;", marked: false }]);
  });
});
