// URLs that come from outside the app's own code (a `?next=` parameter, a model's Markdown):
// what the app follows or loads of them, judged by the browser's own URL parser, so that
// a backslash, a tab or a `/./` in the text means here what it means to the browser.

const HOME = "/c/";

function parse(url: string, base: string): URL | null {
  try {
    return new URL(url, base);
  } catch {
    return null;
  }
}

/**
 * Where to go after logging in: `next` when it is a path that stays on `origin`, else the chat.
 * The answer is rebuilt from the parsed URL (never `next` as given), and its path starts with
 * a single `/`: `//host` would be another site again when the router resolves it.
 */
export function safeNext(next: string | null, origin: string): string {
  if (!next?.startsWith("/")) return HOME;
  const url = parse(next, `${origin}/`);
  if (!url || url.origin !== origin || !url.pathname.startsWith("/") || url.pathname.startsWith("//")) return HOME;
  return url.pathname + url.search + url.hash;
}

/** What an image of a model's Markdown may do: load by itself, or wait for a click. */
export type ImageSource =
  | { kind: "inline"; src: string }
  /** Another site: `host` to show, `href` to open (http and https only) or null. */
  | { kind: "remote"; host: string; href: string | null };

/**
 * Only pictures that tell no other site anything load by themselves: this page's origin,
 * `data:` and `blob:` (both never leave the browser). Any other would send its host that the
 * chat is being read, and whatever the model (or an injection) put into the URL.
 */
export function imageSource(src: string | null | undefined, page: string): ImageSource {
  const base = parse(page, page);
  const url = src ? parse(src, page) : null;
  if (!base || !url) return { kind: "remote", host: "", href: null };
  if (url.protocol === "data:" || url.protocol === "blob:" || url.origin === base.origin) return { kind: "inline", src: url.href };
  const web = url.protocol === "http:" || url.protocol === "https:";
  return { kind: "remote", host: url.host, href: web ? url.href : null };
}
