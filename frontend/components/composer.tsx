"use client";
import { ArrowUp, Square } from "lucide-react";
import { type KeyboardEvent, useEffect, useRef, useState } from "react";
import { Button } from "./ui/button";

interface ComposerProps {
  /** Where the draft is kept in localStorage (`draftKey()` of lib/user-storage). */
  draftKey: string;
  running: boolean;
  disabled: boolean;
  onSend: (text: string) => void;
  onStop: () => void;
}

/** The prompt box: Enter sends, Shift+Enter adds a line; the draft survives a reload or the same person's next login. */
export function Composer({ draftKey, running, disabled, onSend, onStop }: ComposerProps) {
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    setText(localStorage.getItem(draftKey) ?? "");
  }, [draftKey]);

  useEffect(() => {
    const element = area.current;
    if (!element) return;
    element.style.height = "auto";
    element.style.height = `${Math.min(element.scrollHeight, 240)}px`;
  }, [text]);

  function update(value: string) {
    setText(value);
    if (value) localStorage.setItem(draftKey, value);
    else localStorage.removeItem(draftKey);
  }

  function send() {
    const value = text.trim();
    if (!value || running || disabled) return;
    onSend(value);
    update("");
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  }

  return (
    <form
      className="mx-auto flex w-full max-w-3xl items-end gap-2 rounded-3xl border border-border bg-card p-2 pl-4 shadow-sm focus-within:ring-2 focus-within:ring-ring"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      <textarea
        ref={area}
        aria-label="Message"
        placeholder="Message Parley"
        rows={1}
        value={text}
        onChange={(event) => update(event.target.value)}
        onKeyDown={onKeyDown}
        className="max-h-60 flex-1 resize-none bg-transparent py-2 text-base outline-none placeholder:text-muted-foreground"
      />
      {running ? (
        <Button size="icon" className="rounded-full" aria-label="Stop generating" onClick={onStop}>
          <Square className="fill-current" aria-hidden />
        </Button>
      ) : (
        <Button type="submit" size="icon" className="rounded-full" aria-label="Send message" disabled={!text.trim() || disabled}>
          <ArrowUp aria-hidden />
        </Button>
      )}
    </form>
  );
}
