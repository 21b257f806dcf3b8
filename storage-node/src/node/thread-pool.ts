// Imported first by main.ts, before anything touches the file system: libuv reads the size of
// its thread pool once, at its first use. Chunk writes, their fsyncs and directory fsyncs all
// run there; with libuv's default of 4 threads, four slow fsyncs stall every other file
// operation of the node (reads served from blobs included).
const threadPoolSizeDefault = 16;
process.env.UV_THREADPOOL_SIZE ??= String(threadPoolSizeDefault);
