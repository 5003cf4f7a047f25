// Sidebar groups: Today, Yesterday, Previous 7 days, Previous 30 days, then month names.

export interface Dated {
  updated_at: string;
  pinned?: boolean;
}

export interface Group<T> {
  label: string;
  items: T[];
}

function startOfDay(date: Date): number {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

const DAY = 86_400_000;

export function groupLabel(updatedAt: Date, now: Date): string {
  const days = Math.round((startOfDay(now) - startOfDay(updatedAt)) / DAY);
  if (days <= 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days <= 7) return "Previous 7 days";
  if (days <= 30) return "Previous 30 days";
  const sameYear = updatedAt.getFullYear() === now.getFullYear();
  return updatedAt.toLocaleString("en-US", sameYear ? { month: "long" } : { month: "long", year: "numeric" });
}

/** Pinned first, then by date group; newest first inside each group. */
export function groupByDate<T extends Dated>(items: T[], now: Date = new Date()): Group<T>[] {
  const sorted = [...items].sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
  const groups: Group<T>[] = [];
  const pinned = sorted.filter((item) => item.pinned);
  if (pinned.length) groups.push({ label: "Pinned", items: pinned });
  for (const item of sorted) {
    if (item.pinned) continue;
    const label = groupLabel(new Date(item.updated_at), now);
    const last = groups[groups.length - 1];
    if (last && last.label === label) last.items.push(item);
    else groups.push({ label, items: [item] });
  }
  return groups;
}
