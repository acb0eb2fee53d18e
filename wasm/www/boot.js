// Starts compiling the engine as soon as this small module has loaded, without waiting for
// app.js and its imports: app.js takes the compiled module from here (see loadEngine).
// The <link rel="preload"> in index.html has already started the download.
const url = new URL('./pkg/detscript_wasm_bg.wasm', import.meta.url);
const startedAt = performance.now();
window.__detscriptBoot = {
  startedAt,
  compiled: WebAssembly.compileStreaming(fetch(url)).then((module) => ({ module, compiledAt: performance.now() })),
};
