"use client";
import { useRouter } from "next/navigation";
import { type ReactNode, createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { ApiClient } from "@/lib/api";
import { ChatController } from "@/lib/chat-controller";
import type { Theme, User } from "@/lib/types";
import { claimUserStorage, clearUserStorage, userKey } from "@/lib/user-storage";
import { ChatSocket, type ConnectionStatus, sessionStorageStore } from "@/lib/ws-client";

type AuthState = "loading" | "in" | "out";

interface AppContextValue {
  api: ApiClient;
  auth: AuthState;
  user: User | null;
  setUser: (user: User) => void;
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  controller: ChatController | null;
  connection: ConnectionStatus;
  theme: Theme;
  setTheme: (theme: Theme) => void;
}

const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error("useApp outside <Providers>");
  return value;
}

const THEME_KEY = "parley.theme";

function applyTheme(theme: Theme): void {
  const dark = theme === "dark" || (theme === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.classList.toggle("dark", dark);
}

function socketUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/ws`;
}

export function Providers({ children }: { children: ReactNode }) {
  const router = useRouter();
  const api = useMemo(() => new ApiClient(), []);
  const [auth, setAuth] = useState<AuthState>("loading");
  const [user, setUser] = useState<User | null>(null);
  const [controller, setController] = useState<ChatController | null>(null);
  const [connection, setConnection] = useState<ConnectionStatus>("idle");
  const [theme, setThemeState] = useState<Theme>("system");
  const routerRef = useRef(router);
  routerRef.current = router;

  const authLost = useCallback(() => {
    setAuth("out");
    setUser(null);
  }, []);
  api.onAuthLost = authLost;

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const token = await api.getToken();
      if (!token) {
        if (!cancelled) setAuth("out");
        return;
      }
      try {
        const me = await api.request<User>("GET", "/api/auth/me");
        if (!cancelled) {
          claimUserStorage(me.id);
          setUser(me);
          setAuth("in");
        }
      } catch {
        if (!cancelled) setAuth("out");
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api]);

  const userId = user?.id ?? null;
  useEffect(() => {
    if (auth !== "in" || !userId) return;
    const socket = new ChatSocket({
      url: socketUrl(),
      getToken: (refresh) => api.getToken(refresh),
      createSocket: (url) => new WebSocket(url),
      store: sessionStorageStore(userKey(userId, "session")),
      onAuthLost: authLost,
    });
    const chat = new ChatController(socket);
    const offStatus = socket.onStatus(setConnection);
    socket.start();
    setController(chat);
    const renew = window.setInterval(() => void socket.renewToken(), 60_000);
    return () => {
      window.clearInterval(renew);
      offStatus();
      chat.dispose();
      socket.stop();
      setController(null);
    };
  }, [auth, userId, api, authLost]);

  useEffect(() => {
    const stored = (localStorage.getItem(THEME_KEY) as Theme | null) ?? "system";
    setThemeState(stored);
    applyTheme(stored);
    const media = window.matchMedia("(prefers-color-scheme: dark)");
    const onChange = () => applyTheme((localStorage.getItem(THEME_KEY) as Theme | null) ?? "system");
    media.addEventListener("change", onChange);
    return () => media.removeEventListener("change", onChange);
  }, []);

  const setTheme = useCallback((next: Theme) => {
    localStorage.setItem(THEME_KEY, next);
    setThemeState(next);
    applyTheme(next);
  }, []);

  const login = useCallback(
    async (email: string, password: string) => {
      await api.login(email, password);
      const me = await api.request<User>("GET", "/api/auth/me");
      claimUserStorage(me.id);
      setUser(me);
      setAuth("in");
      const preferred = me.preferences.theme;
      if (preferred && !localStorage.getItem(THEME_KEY)) setTheme(preferred);
    },
    [api, setTheme],
  );

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      // the session ends here either way
    }
    clearUserStorage();
    setUser(null);
    setAuth("out");
    routerRef.current.replace("/login/");
  }, [api]);

  const value = useMemo<AppContextValue>(
    () => ({ api, auth, user, setUser, login, logout, controller, connection, theme, setTheme }),
    [api, auth, user, login, logout, controller, connection, theme, setTheme],
  );
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>;
}
