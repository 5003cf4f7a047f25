import { describe, expect, it } from "vitest";
import { conversationReducer, emptyConversation, keepUnchanged, mergeServerTree } from "./conversation";
import { type TreeMessage, buildTree, indexChildren, pathTo, siblingsOf, switchBranch } from "./tree";
import type { ConversationDetail } from "./types";

function msg(id: string, parent: string | null, role: "user" | "assistant", at: number, content = id): TreeMessage {
  return { id, parent_id: parent, role, content, status: "finished", created_at: new Date(at * 1000).toISOString() };
}

// u1 -> a1 -> u2 -> a2 ; u2' (edit of u2) -> a2'
const server = [
  msg("u1", null, "user", 1),
  msg("a1", "u1", "assistant", 2),
  msg("u2", "a1", "user", 3),
  msg("a2", "u2", "assistant", 4),
  msg("u2b", "a1", "user", 5),
  msg("a2b", "u2b", "assistant", 6),
];

describe("tree", () => {
  it("walks the path from a leaf to the root", () => {
    expect(pathTo(buildTree(server), "a2").map((m) => m.id)).toEqual(["u1", "a1", "u2", "a2"]);
  });

  it("moves between sibling branches to the newest leaf of each", () => {
    const tree = buildTree(server);
    expect(siblingsOf(tree, tree.get("u2")!).map((m) => m.id)).toEqual(["u2", "u2b"]);
    expect(switchBranch(tree, tree.get("u2")!, 1)).toBe("a2b");
    expect(switchBranch(tree, tree.get("u2b")!, -1)).toBe("a2");
    expect(switchBranch(tree, tree.get("u2")!, -1)).toBeNull();
  });

  it("finds siblings through a child index as it does by walking the tree", () => {
    const tree = buildTree(server);
    const index = indexChildren(tree);
    for (const message of server) {
      expect(siblingsOf(tree, message, index)).toEqual(siblingsOf(tree, message));
    }
    expect(index.get(null)!.map((m) => m.id)).toEqual(["u1"]);
  });

  it("keeps the objects of unchanged messages across a reload, so memoised rows do not re-render", () => {
    const before = buildTree(server);
    const reloaded = buildTree(server.map((m) => (m.id === "a2" ? { ...m, content: "edited" } : { ...m })));
    const kept = keepUnchanged(before, reloaded);
    expect(kept.get("u1")).toBe(before.get("u1"));
    expect(kept.get("a2")).not.toBe(before.get("a2"));
    expect(kept.get("a2")!.content).toBe("edited");
  });
});

function detail(messages: TreeMessage[], leaf: string | null): ConversationDetail {
  return {
    id: "c1",
    title: "t",
    model: "m",
    pinned: false,
    created_at: "",
    updated_at: "",
    system_prompt: null,
    current_leaf_id: leaf,
    current_path: [],
    messages: messages.map((m) => ({ ...m, children: [] })),
  };
}

describe("conversationReducer", () => {
  it("shows a sent prompt at once, then re-keys its answer when accepted", () => {
    let state = conversationReducer(emptyConversation(null), { type: "sent", requestId: "r1", parentId: null, text: "hi", model: "m", at: "2026-01-01T00:00:00Z" });
    expect(pathTo(state.tree, state.leafId).map((m) => m.content)).toEqual(["hi", ""]);
    state = conversationReducer(state, { type: "accepted", requestId: "r1", conversationId: "c1", messageId: "A" });
    expect(state.conversationId).toBe("c1");
    expect(state.leafId).toBe("A");
    expect(pathTo(state.tree, "A").map((m) => m.id)).toEqual(["local:r1", "A"]);
  });

  it("keeps local prompts history does not have yet and drops those it has", () => {
    let state = conversationReducer(emptyConversation("c1"), { type: "loaded", detail: detail(server.slice(0, 2), "a1") });
    state = conversationReducer(state, { type: "sent", requestId: "r2", parentId: "a1", text: "more", model: "m", at: "2026-01-01T00:00:09Z" });
    state = conversationReducer(state, { type: "accepted", requestId: "r2", conversationId: "c1", messageId: "A3" });
    // History has not seen the prompt yet: the local pair survives a reload of the tree.
    state = conversationReducer(state, { type: "loaded", detail: detail(server.slice(0, 2), "a1") });
    expect(state.leafId).toBe("A3");
    expect(pathTo(state.tree, state.leafId).map((m) => m.id)).toEqual(["u1", "a1", "local:r2", "A3"]);
    // Now it has: history's ids replace the local ones.
    const stored = [...server.slice(0, 2), msg("U3", "a1", "user", 9, "more"), msg("A3", "U3", "assistant", 10)];
    state = conversationReducer(state, { type: "loaded", detail: detail(stored, "A3") });
    expect(pathTo(state.tree, state.leafId).map((m) => m.id)).toEqual(["u1", "a1", "U3", "A3"]);
    expect(state.tree.has("local:r2")).toBe(false);
  });

  it("gives an accepted prompt history's id, so it can be answered again before a reload", () => {
    let state = conversationReducer(emptyConversation(null), { type: "sent", requestId: "r1", parentId: null, text: "hi", model: "m", at: "t0" });
    state = conversationReducer(state, { type: "accepted", requestId: "r1", conversationId: "c1", messageId: "A", promptMessageId: "U" });
    expect(pathTo(state.tree, state.leafId).map((m) => m.id)).toEqual(["U", "A"]);
    // History has not stored them yet: a reload of the tree keeps both.
    state = conversationReducer(state, { type: "loaded", detail: detail([], null) });
    expect(pathTo(state.tree, state.leafId).map((m) => m.id)).toEqual(["U", "A"]);
  });

  it("regenerates as another answer of the same prompt, kept until history stores it", () => {
    let state = conversationReducer(emptyConversation("c1"), { type: "loaded", detail: detail(server.slice(0, 2), "a1") });
    state = conversationReducer(state, { type: "regenerated", requestId: "r2", promptId: "u1", model: "m", at: "2026-01-01T00:00:09Z" });
    expect(pathTo(state.tree, state.leafId).map((m) => m.id)).toEqual(["u1", "pending:r2"]);
    state = conversationReducer(state, { type: "accepted", requestId: "r2", conversationId: "c1", messageId: "a2", promptMessageId: "u1" });
    expect(siblingsOf(state.tree, state.tree.get("a2")!).map((m) => m.id)).toEqual(["a1", "a2"]);
    state = conversationReducer(state, { type: "loaded", detail: detail(server.slice(0, 2), "a1") });
    expect(state.leafId).toBe("a2");
    expect(pathTo(state.tree, state.leafId).map((m) => m.id)).toEqual(["u1", "a2"]);
    // A prompt this page does not know cannot be answered again.
    expect(conversationReducer(state, { type: "regenerated", requestId: "r3", promptId: "nope", model: "m", at: "" })).toBe(state);
  });

  it("marks a refused prompt failed with the server's message", () => {
    let state = conversationReducer(emptyConversation(null), { type: "sent", requestId: "r1", parentId: null, text: "hi", model: "m", at: "" });
    state = conversationReducer(state, { type: "requestFailed", requestId: "r1", code: "model_unavailable", message: "No worker serves that model." });
    const answer = state.tree.get("pending:r1")!;
    expect(answer.status).toBe("failed");
    expect(answer.error_message).toBe("No worker serves that model.");
  });

  it("merges nothing local into a tree that has it all", () => {
    const merged = mergeServerTree(new Map(), server);
    expect([...merged.keys()]).toEqual(server.map((m) => m.id));
  });
});
