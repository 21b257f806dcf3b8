// A value that is expensive to compute (the blob store's totals walk its directories): computed
// at most once per `ttlMs`, concurrent callers sharing one computation. A failed computation is
// not cached; the previous value, if any, is served instead.

export function cached<T>(ttlMs: number, load: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let value: { readonly data: T; readonly atMs: number } | null = null;
  let loading: Promise<T> | null = null;
  return () => {
    if (value !== null && now() - value.atMs < ttlMs) return Promise.resolve(value.data);
    loading ??= load().then(
      (data) => {
        value = { data, atMs: now() };
        loading = null;
        return data;
      },
      (err: unknown) => {
        loading = null;
        if (value !== null) return value.data;
        throw err;
      },
    );
    return loading;
  };
}
