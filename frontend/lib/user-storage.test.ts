import { afterEach, describe, expect, it } from "vitest";
import { claimUserStorage, clearUserStorage, draftKey, userKey } from "./user-storage";

const ALICE = "0b6f7c1e-aaaa-4aaa-8aaa-000000000001";
const BOB = "0b6f7c1e-bbbb-4bbb-8bbb-000000000002";

afterEach(() => {
  localStorage.clear();
  sessionStorage.clear();
});

function keys(storage: Storage): string[] {
  return Array.from({ length: storage.length }, (_, i) => storage.key(i)!).sort();
}

function aliceWasHere(): void {
  localStorage.setItem(draftKey(ALICE, null), "my salary is");
  localStorage.setItem(draftKey(ALICE, "c1"), "about my doctor");
  localStorage.setItem(userKey(ALICE, "model"), "test-model");
  sessionStorage.setItem(userKey(ALICE, "session"), '{"sessionId":"s1","lastSeq":4}');
  // What earlier versions kept under no id.
  localStorage.setItem("parley.draft.new", "old draft");
  localStorage.setItem("parley.model", "test-model");
  sessionStorage.setItem("parley.session", "{}");
  // The device's own settings, and another site's keys on this origin.
  localStorage.setItem("parley.theme", "dark");
  localStorage.setItem("parley.sidebar", "collapsed");
  localStorage.setItem("other.app", "kept");
}

describe("per-person storage", () => {
  it("keys a person's data by their id", () => {
    expect(draftKey(ALICE, "c1")).toBe(`parley.u.${ALICE}.draft.c1`);
    expect(draftKey(ALICE, null)).toBe(`parley.u.${ALICE}.draft.new`);
    expect(draftKey(BOB, null)).not.toBe(draftKey(ALICE, null));
  });

  it("clears every person's data at logout, and only that", () => {
    aliceWasHere();
    clearUserStorage();
    expect(keys(localStorage)).toEqual(["other.app", "parley.sidebar", "parley.theme"]);
    expect(keys(sessionStorage)).toEqual([]);
  });

  it("drops what someone else left when a person logs in, and keeps the person's own", () => {
    aliceWasHere();
    localStorage.setItem(draftKey(BOB, "c9"), "bob's draft");
    claimUserStorage(BOB);
    expect(keys(localStorage)).toEqual([draftKey(BOB, "c9"), "other.app", "parley.sidebar", "parley.theme"].sort());
    expect(keys(sessionStorage)).toEqual([]);
  });

  it("keeps the same person's drafts across a session that ended", () => {
    aliceWasHere();
    claimUserStorage(ALICE);
    expect(localStorage.getItem(draftKey(ALICE, "c1"))).toBe("about my doctor");
    expect(sessionStorage.getItem(userKey(ALICE, "session"))).not.toBeNull();
    expect(localStorage.getItem("parley.draft.new")).toBeNull();
  });
});
