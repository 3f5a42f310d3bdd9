// The benchmark services on the official TypeScript SDK (@restatedev/restate-sdk, pinned in
// package.json / package-lock.json), served over HTTP/2 by the SDK's own node endpoint.
//
//   NODE_PATH=<install dir>/node_modules node bench/ts/endpoint.cjs PORT
//
// bench/run.py installs the pinned packages into a cache folder on first use and sets
// NODE_PATH. Same services, names and behaviour as bench/trio_app.py and bench/official_app.py.
"use strict";

// SDK 1.17 calls Promise.withResolvers, which Node 20 does not have (Node 22 does).
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const http2 = require("node:http2");
const restate = require("@restatedev/restate-sdk");

// Invocations of Waiter.wait currently inside the handler (the memory point polls it).
let waitingNow = 0;

const greeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx, name) => `Hello ${name}!`,
  },
});

const counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx, delta) => {
      const value = ((await ctx.get("count")) ?? 0) + delta;
      ctx.set("count", value);
      return value;
    },
  },
});

const runner = restate.service({
  name: "Runner",
  handlers: {
    run1: async (ctx, name) => ctx.run("step", async () => `Hello ${name}!`),
    steps10: async (ctx, name) => {
      let total = 0;
      for (let i = 0; i < 10; i++) {
        total += await ctx.run("step", async () => 1);
      }
      return total;
    },
  },
});

const proxy = restate.service({
  name: "Proxy",
  handlers: {
    greet: async (ctx, name) => ctx.serviceClient(greeter).greet(name),
  },
});

const waiter = restate.service({
  name: "Waiter",
  handlers: {
    wait: async (ctx) => {
      const { promise } = ctx.awakeable();
      waitingNow += 1;
      try {
        return await promise;
      } finally {
        waitingNow -= 1;
      }
    },
    waiting: async () => waitingNow,
  },
});

const port = Number.parseInt(process.argv[2] ?? "", 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node bench/ts/endpoint.cjs PORT");
  process.exit(2);
}

// What endpoint().listen(port) does (HTTP/2 cleartext, bidirectional streams), but bound to
// 127.0.0.1 only: listen() binds every interface.
const handler = restate
  .endpoint()
  .bind(greeter)
  .bind(counter)
  .bind(runner)
  .bind(proxy)
  .bind(waiter)
  .http2Handler();
const server = http2.createServer(handler);
server.once("error", (error) => {
  console.error("ERROR: could not listen:", error);
  process.exit(1);
});
server.listen(port, "127.0.0.1");

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
