"use client";
import * as DialogPrimitive from "@radix-ui/react-dialog";
import { PanelLeft } from "lucide-react";
import { type ReactNode, useEffect, useState } from "react";
import { ConnectionStatus } from "./connection-status";
import { Sidebar } from "./sidebar";
import { Button } from "./ui/button";

/** The sidebar beside the page on wide screens (collapsible), a drawer on phones. */
export function AppShell({ currentId, children }: { currentId: string | null; children: (header: ReactNode) => ReactNode }) {
  const [collapsed, setCollapsed] = useState(false);
  const [drawer, setDrawer] = useState(false);
  useEffect(() => {
    setCollapsed(localStorage.getItem("parley.sidebar") === "collapsed");
  }, []);

  function toggle() {
    if (window.matchMedia("(min-width: 768px)").matches) {
      const next = !collapsed;
      setCollapsed(next);
      localStorage.setItem("parley.sidebar", next ? "collapsed" : "open");
    } else {
      setDrawer(true);
    }
  }

  const header = (
    <>
      <Button variant="ghost" size="icon" aria-label="Toggle sidebar" aria-expanded={!collapsed} onClick={toggle}>
        <PanelLeft aria-hidden />
      </Button>
      <ConnectionStatus />
    </>
  );

  return (
    <div className="flex h-dvh">
      {!collapsed && (
        <aside className="hidden w-72 shrink-0 border-r border-border md:block" data-testid="sidebar">
          <Sidebar currentId={currentId} />
        </aside>
      )}
      <DialogPrimitive.Root open={drawer} onOpenChange={setDrawer}>
        <DialogPrimitive.Portal>
          <DialogPrimitive.Overlay className="fixed inset-0 z-40 bg-black/50 md:hidden" />
          <DialogPrimitive.Content className="fixed inset-y-0 left-0 z-50 w-[85vw] max-w-80 shadow-xl focus:outline-none md:hidden" aria-describedby={undefined}>
            <DialogPrimitive.Title className="sr-only">Conversations</DialogPrimitive.Title>
            <Sidebar currentId={currentId} onNavigate={() => setDrawer(false)} />
          </DialogPrimitive.Content>
        </DialogPrimitive.Portal>
      </DialogPrimitive.Root>
      <main className="flex min-w-0 flex-1">{children(header)}</main>
    </div>
  );
}
