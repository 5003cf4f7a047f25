import { describe, expect, it } from "vitest";
import type { ChatMessage } from "./protocol";
import { fitContext } from "./context";

function chat(turns: number, answer = "an answer"): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: "Be brief." }];
  for (let i = 0; i < turns; i++) {
    messages.push({ role: "user", content: `question ${i}` }, { role: "assistant", content: `${answer} ${i}` });
  }
  messages.push({ role: "user", content: "the new prompt" });
  return messages;
}

describe("fitContext", () => {
  it("sends a short chat whole", () => {
    const messages = chat(3);
    expect(fitContext(messages)).toEqual(messages);
  });

  it("keeps the system prompt and the newest messages within the message limit", () => {
    const fitted = fitContext(chat(600), { maxMessages: 11, maxBytes: 1_000_000 });
    expect(fitted[0]).toEqual({ role: "system", content: "Be brief." });
    expect(fitted.length).toBeLessThanOrEqual(11);
    expect(fitted[1]!.role).toBe("user");
    expect(fitted.at(-1)).toEqual({ role: "user", content: "the new prompt" });
    expect(fitted.at(-2)).toEqual({ role: "assistant", content: "an answer 599" });
  });

  it("stays within the byte budget, counting UTF-8 bytes", () => {
    const fitted = fitContext(chat(200, "ü".repeat(1000)), { maxMessages: 1000, maxBytes: 20_000 });
    const bytes = fitted.reduce((sum, m) => sum + new TextEncoder().encode(JSON.stringify(m)).length + 1, 0);
    expect(bytes).toBeLessThanOrEqual(20_000);
    expect(fitted.length).toBeGreaterThan(5);
    expect(fitted.at(-1)!.content).toBe("the new prompt");
  });

  it("sends an oversized prompt anyway, for the gateway to refuse with its reason", () => {
    const huge: ChatMessage = { role: "user", content: "x".repeat(50_000) };
    expect(fitContext([{ role: "user", content: "old" }, huge], { maxMessages: 10, maxBytes: 1_000 })).toEqual([huge]);
  });
});
