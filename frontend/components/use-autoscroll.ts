"use client";
import { type RefObject, useCallback, useEffect, useRef, useState } from "react";

/** Keeps a scroll container at the bottom while its content grows, until the user scrolls up. */
export function useAutoscroll(container: RefObject<HTMLElement | null>, content: RefObject<HTMLElement | null>) {
  const stick = useRef(true);
  const [atBottom, setAtBottom] = useState(true);

  const scrollToBottom = useCallback(() => {
    const element = container.current;
    if (!element) return;
    stick.current = true;
    setAtBottom(true);
    element.scrollTop = element.scrollHeight;
  }, [container]);

  useEffect(() => {
    const element = container.current;
    const inner = content.current;
    if (!element || !inner) return;
    let lastTop = element.scrollTop;
    const onScroll = () => {
      const distance = element.scrollHeight - element.scrollTop - element.clientHeight;
      if (element.scrollTop < lastTop - 2 && distance > 40) stick.current = false;
      else if (distance < 40) stick.current = true;
      lastTop = element.scrollTop;
      setAtBottom(stick.current);
    };
    const observer = new ResizeObserver(() => {
      if (stick.current) {
        element.scrollTop = element.scrollHeight;
        lastTop = element.scrollTop;
      }
    });
    element.addEventListener("scroll", onScroll, { passive: true });
    observer.observe(inner);
    return () => {
      element.removeEventListener("scroll", onScroll);
      observer.disconnect();
    };
  }, [container, content]);

  return { atBottom, scrollToBottom };
}
