import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { draftKey } from "@/lib/user-storage";
import { Composer } from "../composer";

const KEY = draftKey("u1", "c1");

afterEach(() => {
  cleanup();
  localStorage.clear();
});

function setup(props: Partial<Parameters<typeof Composer>[0]> = {}) {
  const onSend = vi.fn();
  const onStop = vi.fn();
  render(<Composer draftKey={KEY} running={false} disabled={false} onSend={onSend} onStop={onStop} {...props} />);
  return { onSend, onStop, box: screen.getByLabelText("Message") as HTMLTextAreaElement };
}

describe("Composer", () => {
  it("sends the trimmed text on Enter and clears the box and the draft", () => {
    const { onSend, box } = setup();
    fireEvent.change(box, { target: { value: "  hello  " } });
    expect(localStorage.getItem(KEY)).toBe("  hello  ");
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).toHaveBeenCalledWith("hello");
    expect(box.value).toBe("");
    expect(localStorage.getItem(KEY)).toBeNull();
  });

  it("does not send on Shift+Enter, nor an empty message", () => {
    const { onSend, box } = setup();
    fireEvent.keyDown(box, { key: "Enter" });
    fireEvent.change(box, { target: { value: "line" } });
    fireEvent.keyDown(box, { key: "Enter", shiftKey: true });
    expect(onSend).not.toHaveBeenCalled();
  });

  it("restores the draft of its conversation", () => {
    localStorage.setItem(KEY, "half written");
    const { box } = setup();
    expect(box.value).toBe("half written");
  });

  it("shows Stop instead of Send while an answer runs, and does not send", () => {
    const { onSend, onStop, box } = setup({ running: true });
    fireEvent.change(box, { target: { value: "next" } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Stop generating" }));
    expect(onStop).toHaveBeenCalledOnce();
  });
});
