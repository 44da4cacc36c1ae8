// @vitest-environment jsdom
import { cleanup, fireEvent, render } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { RoomMenu, reportUrl } from "./room_menu";

afterEach(cleanup);

describe("RoomMenu: Export report", () => {
  it("builds the report address for each format", () => {
    expect(reportUrl("r-1", "pdf")).toBe("/api/rooms/r-1/report?format=pdf");
    expect(reportUrl("r-1", "html", false)).toBe("/api/rooms/r-1/report?format=html&download=0");
  });

  it("offers every format and links the chosen one for download (and opening for PDF/HTML)", () => {
    const { getByRole, getAllByRole, queryByRole } = render(<RoomMenu roomId="room-9" />);
    expect(queryByRole("group", { name: "Room menu" })).toBeNull();
    fireEvent.click(getByRole("button", { name: "Room menu" }));
    const radios = getAllByRole("radio") as HTMLInputElement[];
    expect(radios.map((r) => r.value)).toEqual(["pdf", "html", "md", "csv", "json"]);
    const download = getByRole("link", { name: "Download PDF" }) as HTMLAnchorElement;
    expect(download.getAttribute("href")).toBe("/api/rooms/room-9/report?format=pdf");
    expect(download.hasAttribute("download")).toBe(true);
    expect(getByRole("link", { name: "Open" }).getAttribute("href")).toBe("/api/rooms/room-9/report?format=pdf&download=0");
    fireEvent.click(radios[3]!);
    expect(getByRole("link", { name: "Download CSV (incident data)" }).getAttribute("href")).toBe(
      "/api/rooms/room-9/report?format=csv",
    );
    expect(queryByRole("link", { name: "Open" })).toBeNull();
  });

  it("opens the Alerts panel when asked to, and closes itself", () => {
    let opened = 0;
    const { getByRole, queryByRole } = render(<RoomMenu roomId="room-9" onAlerts={() => (opened += 1)} />);
    fireEvent.click(getByRole("button", { name: "Room menu" }));
    fireEvent.click(getByRole("button", { name: "🚨 Alerts" }));
    expect(opened).toBe(1);
    expect(queryByRole("group", { name: "Room menu" })).toBeNull();
  });

  it("closes on Escape", () => {
    const { getByRole, queryByRole } = render(<RoomMenu roomId="room-9" />);
    fireEvent.click(getByRole("button", { name: "Room menu" }));
    fireEvent.keyDown(document, { key: "Escape" });
    expect(queryByRole("group", { name: "Room menu" })).toBeNull();
  });
});
