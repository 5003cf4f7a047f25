import { describe, expect, it } from "vitest";
import { imageSource, safeNext } from "./urls";

const ORIGIN = "https://chat.example.test";

describe("safeNext", () => {
  it.each([
    ["/settings/", "/settings/"],
    ["/c/?id=42#end", "/c/?id=42#end"],
    ["/library/?q=a%20b", "/library/?q=a%20b"],
    ["/c/../settings/", "/settings/"],
  ])("keeps a path of this origin: %j", (next, expected) => {
    expect(safeNext(next, ORIGIN)).toBe(expected);
  });

  it.each([
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/.//evil.example",
    "/%2e//evil.example",
    "https://evil.example/c/",
    "evil.example",
    "https:evil.example",
    "\t/evil.example",
    `${ORIGIN}/admin/`,
    "http://chat.example.test/c/",
    "https://chat.example.test:8443/c/",
    "https://chat.example.test@evil.example/",
    "javascript:alert(document.cookie)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "blob:https://evil.example/5a1c",
    "http://[::1",
  ])("sends %j to the chat instead", (next) => {
    const target = safeNext(next, ORIGIN);
    expect(target).toBe("/c/");
  });

  it("sends nothing to the chat, and what it keeps never leaves the origin when resolved again", () => {
    expect(safeNext(null, ORIGIN)).toBe("/c/");
    expect(safeNext("", ORIGIN)).toBe("/c/");
    for (const next of ["/ok/", "/%5Cevil.example", "/%2F/evil.example", "/%09/evil.example", "/c/?next=//evil.example"]) {
      const target = safeNext(next, ORIGIN);
      expect(target.startsWith("/") && !target.startsWith("//")).toBe(true);
      expect(new URL(target, ORIGIN).origin).toBe(ORIGIN);
    }
  });
});

describe("imageSource", () => {
  const page = `${ORIGIN}/c/?id=1`;

  it.each([
    ["/files/chart.png", `${ORIGIN}/files/chart.png`],
    ["chart.png", `${ORIGIN}/c/chart.png`],
    [`${ORIGIN}/a.png`, `${ORIGIN}/a.png`],
    ["data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo="],
    [`blob:${ORIGIN}/5a1c`, `blob:${ORIGIN}/5a1c`],
  ])("loads %j by itself", (src, expected) => {
    expect(imageSource(src, page)).toEqual({ kind: "inline", src: expected });
  });

  it.each([
    ["https://evil.example/p.png?d=the%20chat", "evil.example"],
    ["//evil.example/p.png", "evil.example"],
    ["/\\evil.example/p.png", "evil.example"],
    ["http://chat.example.test/p.png", "chat.example.test"],
    ["https://chat.example.test:444/p.png", "chat.example.test:444"],
    ["https://chat.example.test@evil.example/p.png", "evil.example"],
    ["ht\ttps://evil.example/p.png", "evil.example"],
  ])("leaves %j to a click, naming its host", (src, host) => {
    const source = imageSource(src, page);
    expect(source).toMatchObject({ kind: "remote", host });
    expect(source.kind === "remote" && source.href?.startsWith("http")).toBe(true);
  });

  it("offers no link for what is not a web address", () => {
    expect(imageSource("javascript:alert(1)", page)).toEqual({ kind: "remote", host: "", href: null });
    expect(imageSource("ftp://files.example/p.png", page)).toEqual({ kind: "remote", host: "files.example", href: null });
    expect(imageSource("", page)).toEqual({ kind: "remote", host: "", href: null });
    expect(imageSource(null, page)).toEqual({ kind: "remote", host: "", href: null });
  });
});
