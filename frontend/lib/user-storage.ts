// What the app keeps in the browser for one person (drafts, the model last picked, the chat
// socket's session) lives under keys that carry that person's id, and goes at logout or when
// someone else logs in: the next person on a shared browser finds none of it. The theme and
// the sidebar's state belong to the device and stay.

const PREFIX = "parley.u.";
/** Keys of earlier versions, which held a person's data under no id. */
const UNOWNED = [/^parley\.draft\./, /^parley\.model$/, /^parley\.session$/];

/** The storage key of `name` (`draft.<conversation>`, `model`, `session`) for `userId`. */
export function userKey(userId: string, name: string): string {
  return `${PREFIX}${userId}.${name}`;
}

export function draftKey(userId: string, conversationId: string | null): string {
  return userKey(userId, `draft.${conversationId ?? "new"}`);
}

function browserStores(): Storage[] {
  return typeof window === "undefined" ? [] : [window.localStorage, window.sessionStorage];
}

function removeWhere(stores: Storage[], doomed: (key: string) => boolean): void {
  for (const storage of stores) {
    const keys = Array.from({ length: storage.length }, (_, i) => storage.key(i)).filter((k): k is string => k !== null);
    for (const key of keys) if (doomed(key)) storage.removeItem(key);
  }
}

function personal(key: string): boolean {
  return key.startsWith(PREFIX) || UNOWNED.some((pattern) => pattern.test(key));
}

/** At logout: every person's data goes. */
export function clearUserStorage(stores: Storage[] = browserStores()): void {
  removeWhere(stores, personal);
}

/** Before `userId`'s pages read anything: what another person left (a session that ended
 * without a logout) goes; `userId`'s own drafts stay. */
export function claimUserStorage(userId: string, stores: Storage[] = browserStores()): void {
  const own = userKey(userId, "");
  removeWhere(stores, (key) => personal(key) && !key.startsWith(own));
}
