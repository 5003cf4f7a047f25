import { describe, expect, it } from "vitest";
import { ApiClient } from "./api";
import { moveConversation, outsideProjects, parseTags, promptsQuery } from "./library";

function client(answers: { status: number; body: unknown }[], calls: string[]) {
  return new ApiClient({
    fetch: async (url, init) => {
      if (url === "/api/auth/refresh") return new Response(JSON.stringify({ access_token: "t", token_type: "bearer", expires_in: 900 }));
      calls.push(`${init?.method} ${url} ${String(init?.body)}`);
      const answer = answers.shift()!;
      return new Response(JSON.stringify(answer.body), { status: answer.status });
    },
  });
}

describe("library", () => {
  it("parses tags as history stores them", () => {
    expect(parseTags(" Code, review ,code,, Go ")).toEqual(["code", "go", "review"]);
  });

  it("builds the prompts query", () => {
    expect(promptsQuery("shared", "", " ")).toBe("/api/history/prompts?scope=shared&limit=100");
    expect(promptsQuery("all", "go", "pirate")).toBe("/api/history/prompts?scope=all&limit=100&tag=go&q=pirate");
  });

  it("keeps the conversations outside projects", () => {
    const items = [{ id: "a", project_id: null }, { id: "b", project_id: "p" }, { id: "c" }];
    expect(outsideProjects(items).map((c) => c.id)).toEqual(["a", "c"]);
  });

  it("retries a move while history does not know the conversation yet", async () => {
    const calls: string[] = [];
    const api = client(
      [
        { status: 404, body: { detail: "conversation not found" } },
        { status: 404, body: { detail: "conversation not found" } },
        { status: 200, body: { id: "c1", project_id: "p1" } },
      ],
      calls,
    );
    const moved = await moveConversation(api, "c1", "p1", { wait: async () => undefined });
    expect(moved).toEqual({ id: "c1", project_id: "p1" });
    expect(calls).toHaveLength(3);
    expect(calls[0]).toBe('PATCH /api/history/conversations/c1 {"project_id":"p1"}');
  });

  it("does not retry an unknown project, and gives up after the attempts", async () => {
    const calls: string[] = [];
    const api = client([{ status: 404, body: { detail: "project not found" } }], calls);
    await expect(moveConversation(api, "c1", "p1", { wait: async () => undefined })).rejects.toThrow("project not found");
    expect(calls).toHaveLength(1);
    const again: string[] = [];
    const missing = client(Array.from({ length: 3 }, () => ({ status: 404, body: { detail: "conversation not found" } })), again);
    await expect(moveConversation(missing, "c1", null, { attempts: 3, wait: async () => undefined })).rejects.toThrow();
    expect(again).toHaveLength(3);
  });
});
