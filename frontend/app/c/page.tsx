"use client";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";
import { AppShell } from "@/components/app-shell";
import { ChatView } from "@/components/chat-view";
import { RequireAuth } from "@/components/require-auth";

function ChatPage() {
  const params = useSearchParams();
  const id = params.get("id");
  const project = params.get("project");
  return (
    <RequireAuth>
      <AppShell currentId={id}>{(header) => <ChatView conversationId={id} projectId={id ? null : project} header={header} />}</AppShell>
    </RequireAuth>
  );
}

export default function Page() {
  return (
    <Suspense>
      <ChatPage />
    </Suspense>
  );
}
