"use client";
import { Check, Copy, ImageOff } from "lucide-react";
import { type ComponentProps, type ReactNode, isValidElement, memo, useState } from "react";
import ReactMarkdown, { type ExtraProps, type UrlTransform, defaultUrlTransform } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";
import { imageSource } from "@/lib/urls";

function textOf(node: ReactNode): string {
  if (typeof node === "string" || typeof node === "number") return String(node);
  if (Array.isArray(node)) return node.map(textOf).join("");
  if (isValidElement<{ children?: ReactNode }>(node)) return textOf(node.props.children);
  return "";
}

export function CopyButton({ text, label = "Copy", className }: { text: string; label?: string; className?: string }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard refused (insecure origin): fall back to a selection copy.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied(true);
    window.setTimeout(() => setCopied(false), 1500);
  }
  return (
    <button
      type="button"
      onClick={copy}
      aria-label={copied ? "Copied" : label}
      title={copied ? "Copied" : label}
      className={
        className ??
        "inline-flex items-center gap-1 rounded-md p-1.5 text-muted-foreground hover:bg-accent hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
      }
    >
      {copied ? <Check className="size-4" aria-hidden /> : <Copy className="size-4" aria-hidden />}
    </button>
  );
}

function CodeBlock({ children, ...props }: ComponentProps<"pre">) {
  const code = isValidElement<{ className?: string; children?: ReactNode }>(children) ? children : null;
  const language = code?.props.className?.match(/language-([\w-]+)/)?.[1] ?? "text";
  const text = textOf(code?.props.children ?? children).replace(/\n$/, "");
  return (
    <div className="overflow-hidden rounded-lg border border-border bg-code">
      <div className="flex items-center justify-between border-b border-border px-3 py-1 text-xs text-muted-foreground">
        <span>{language}</span>
        <CopyButton text={text} label="Copy code" />
      </div>
      <pre className="overflow-x-auto p-3" {...props}>
        {children}
      </pre>
    </div>
  );
}

/**
 * A Markdown image: shown when it loads from this origin or from the page itself (`data:`,
 * `blob:`); any other becomes a link naming its host, which the reader may open in a new tab.
 * The page's CSP (img-src 'self' data: blob:) would refuse to show it inline even after a
 * click, and a new tab without opener or referrer tells that host nothing about this chat.
 */
function ChatImage({ src, alt, node: _node, ...props }: ComponentProps<"img"> & ExtraProps) {
  const source = imageSource(typeof src === "string" ? src : null, typeof window === "undefined" ? "" : window.location.href);
  if (source.kind === "inline") return <img {...props} src={source.src} alt={alt ?? ""} className="max-w-full" />;
  const label = (
    <>
      <ImageOff className="size-4 shrink-0" aria-hidden />
      <span>{alt || "Image"}</span>
      {source.host && <span className="text-muted-foreground">· {source.host}</span>}
    </>
  );
  const className = "inline-flex items-center gap-1.5 rounded-md border border-dashed border-border px-2 py-0.5 text-sm";
  if (!source.href) {
    return (
      <span className={className} data-testid="remote-image" title="Image not shown">
        {label}
      </span>
    );
  }
  return (
    <a
      href={source.href}
      target="_blank"
      rel="noopener noreferrer"
      className={className}
      data-testid="remote-image"
      title={`Not loaded automatically: opens ${source.href} in a new tab`}
    >
      {label}
    </a>
  );
}

/** react-markdown's own rule (no `javascript:` and the like), plus inline pictures, which it drops. */
const urlTransform: UrlTransform = (url, key, node) =>
  key === "src" && node.tagName === "img" && /^(data|blob):/i.test(url) ? url : defaultUrlTransform(url);

const components = { pre: CodeBlock, img: ChatImage };

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="prose-chat">
      <ReactMarkdown remarkPlugins={[remarkGfm]} rehypePlugins={[[rehypeHighlight, { detect: false, ignoreMissing: true }]]} components={components} urlTransform={urlTransform}>
        {text}
      </ReactMarkdown>
    </div>
  );
});
