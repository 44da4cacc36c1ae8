// @vitest-environment jsdom
import { cleanup, render } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { HighlightedText } from "./highlighted_text";
import { MessageBody } from "./message_body";

afterEach(cleanup);

const nameOf = (id: string) => ({ "me@x": "Me", "bob@x": "Bob" })[id] ?? null;

describe("MessageBody", () => {
  it("renders markup in a message as text, never as HTML", () => {
    const { container } = render(
      <MessageBody type="text" content={'<img src=x onerror="alert(1)"><b>bold</b>'} mentions={[]} fileUrl={null} nameOf={nameOf} meId="me@x" />,
    );
    expect(container.querySelector("img, b")).toBeNull();
    expect(container.textContent).toBe('<img src=x onerror="alert(1)"><b>bold</b>');
  });

  it("highlights mentions and makes mine stand out", () => {
    const { container } = render(
      <MessageBody type="text" content="@Bob and @Me look" mentions={["bob@x", "me@x"]} fileUrl={null} nameOf={nameOf} meId="me@x" />,
    );
    expect([...container.querySelectorAll(".mention")].map((e) => e.textContent)).toEqual(["@Bob", "@Me"]);
    expect(container.querySelector(".mention-me")?.textContent).toBe("@Me");
  });

  it("shows an image inline from its file URL and refuses a script URL", () => {
    const ok = render(<MessageBody type="image_ref" content="Defect" mentions={[]} fileUrl="/api/files/f1" nameOf={nameOf} meId="me@x" />);
    expect(ok.container.querySelector("img")?.getAttribute("src")).toBe("/api/files/f1");
    cleanup();
    const bad = render(<MessageBody type="image_ref" content="x" mentions={[]} fileUrl="javascript:alert(1)" nameOf={nameOf} meId="me@x" />);
    expect(bad.container.querySelector("img")).toBeNull();
  });

  it("renders incident data as a card of fields", () => {
    const { container } = render(
      <MessageBody type="incident_data" content={{ temperature: 85, pressure: 120, note: "<i>x</i>" }} mentions={[]} fileUrl={null} nameOf={nameOf} meId="me@x" />,
    );
    expect([...container.querySelectorAll("dt")].map((e) => e.textContent)).toEqual(["Temperature", "Pressure", "note"]);
    expect(container.querySelector("i")).toBeNull();
  });

  it("shows units beside readings and never shows the _units object itself", () => {
    const { container } = render(
      <MessageBody
        type="incident_data"
        content={{ temperature: 85, line: "L3", _units: { temperature: "°C", "<img src=x onerror=alert(1)>": "x" } }}
        mentions={[]}
        fileUrl={null}
        nameOf={nameOf}
        meId="me@x"
      />,
    );
    expect([...container.querySelectorAll(".incident-field")].map((e) => e.textContent)).toEqual(["Temperature85 °C", "lineL3"]);
    expect(container.querySelector("img")).toBeNull();
    cleanup();
    const hostile = render(
      <MessageBody
        type="incident_data"
        content={{ "<img src=x onerror=alert(1)>": "<script>alert(2)</script>", t: 1, _units: { t: "<b>°C</b>" } }}
        mentions={[]}
        fileUrl={null}
        nameOf={nameOf}
        meId="me@x"
      />,
    );
    expect(hostile.container.querySelector("img, script, b")).toBeNull();
    expect(hostile.container.textContent).toContain("<script>alert(2)</script>");
    expect(hostile.container.textContent).toContain("1 <b>°C</b>");
  });

  it("shows an alert's labels as pairs on a full row and folds its alert list away", () => {
    const content = {
      severity: "critical",
      labels: { alertname: "ProbeFailure", job: "http_checks" },
      alerts: [{ status: "firing", labels: { instance: "https://server.example.org" } }],
    };
    const { container } = render(<MessageBody type="incident_data" content={content} mentions={[]} fileUrl={null} nameOf={nameOf} meId="me@x" />);
    const nested = [...container.querySelectorAll(".incident-field.nested")];
    expect(nested.map((e) => e.querySelector("dt")!.textContent)).toEqual(["alerts", "labels"]);
    expect(nested[1]!.querySelector("dd")!.textContent).toBe("alertname=ProbeFailure · job=http_checks");
    expect(nested[0]!.querySelector("summary")!.textContent).toBe("1 item");
    expect(JSON.parse(nested[0]!.querySelector("pre")!.textContent!)).toEqual(content.alerts);
  });

  it("orders readings and shows the measurement time in the display zone", () => {
    const { container } = render(
      <MessageBody
        type="incident_data"
        content={{ timestamp: "2025-11-17T10:15:00Z", production_rate: 450, pressure: 120, temperature: 85 }}
        mentions={[]}
        fileUrl={null}
        nameOf={nameOf}
        meId="me@x"
        formatTime={(iso) => `T(${iso})`}
      />,
    );
    expect([...container.querySelectorAll("dt")].map((e) => e.textContent)).toEqual([
      "Temperature",
      "Pressure",
      "Production rate",
      "Measured at",
    ]);
    expect(container.querySelector("time")?.textContent).toBe("T(2025-11-17T10:15:00Z)");
  });
});

describe("HighlightedText", () => {
  it("creates only text and <mark> nodes from a search hit", () => {
    const { container } = render(<HighlightedText html={'&lt;script&gt;x&lt;/script&gt; <mark>temp</mark> <img src=x onerror=alert(1)>'} />);
    const div = container;
    expect([...div.querySelectorAll("*")].map((e) => e.tagName)).toEqual(["MARK"]);
    expect(div.textContent).toBe("<script>x</script> temp <img src=x onerror=alert(1)>");
  });
});
