import { describe, expect, it } from "vitest";
import { ApiError, NetworkError } from "../net/http";
import { searchErrorMessage, SEARCH_ERROR_TEXT } from "./search_errors";

describe("searchErrorMessage", () => {
  it("explains an unknown has: filter and lists the ones that exist", () => {
    const msg = searchErrorMessage(new ApiError(422, "q could not be understood: has: takes image, file or data, not 'video'"));
    expect(msg).toBe(SEARCH_ERROR_TEXT.badHas("video"));
    expect(msg).toContain("has:image, has:file or has:data");
    expect(msg).not.toContain("HTTP");
  });

  it.each([
    [new ApiError(422, "q is too long"), SEARCH_ERROR_TEXT.tooLong],
    [new ApiError(422, "q could not be understood: something new"), SEARCH_ERROR_TEXT.unreadable],
    [new ApiError(422, "offset + limit may be at most 1000"), SEARCH_ERROR_TEXT.badParameter],
    [new ApiError(503, "search is unavailable right now"), SEARCH_ERROR_TEXT.unavailable],
    [new ApiError(401, "sign in"), SEARCH_ERROR_TEXT.signedOut],
    [new ApiError(500, "boom"), SEARCH_ERROR_TEXT.failed],
    [new NetworkError(new TypeError("Failed to fetch")), SEARCH_ERROR_TEXT.offline],
    ["weird", SEARCH_ERROR_TEXT.failed],
  ])("maps %s to plain words", (err, text) => {
    expect(searchErrorMessage(err)).toBe(text);
  });
});
