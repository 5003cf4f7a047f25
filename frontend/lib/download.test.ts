import { describe, expect, it } from "vitest";
import { attachmentName } from "./download";

describe("attachmentName", () => {
  it("reads quoted, bare and RFC 5987 file names", () => {
    expect(attachmentName('attachment; filename="chat.md"', "x")).toBe("chat.md");
    expect(attachmentName("attachment; filename=chat.json", "x")).toBe("chat.json");
    expect(attachmentName("attachment; filename*=UTF-8''caf%C3%A9.md", "x")).toBe("café.md");
  });

  it("falls back without a header", () => {
    expect(attachmentName(null, "conversation.md")).toBe("conversation.md");
  });
});
