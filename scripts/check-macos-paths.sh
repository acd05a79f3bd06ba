#!/bin/sh
# Compiles and runs the Mac's branches of paddock's own logic on Linux: a build with -D PADDOCK_SIMULATE_MACOS
# (HostSystem.isMac is true, Linux-only selection branches step aside) in its own build folder, then the suites
# that exercise those branches. What it proves: the `#if os(macOS) || PADDOCK_SIMULATE_MACOS` code compiles and
# chooses engines and transports as intended. What it does not: that Darwin's Foundation and libc calls compile
# or behave (the binary still links Glibc), nor anything about a real Mac's engines.
set -eu
cd "$(dirname "$0")/.."
swift build --build-tests --build-path .build-macos-sim -Xswiftc -DPADDOCK_SIMULATE_MACOS
swift test --skip-build --build-path .build-macos-sim \
    --filter 'MacSimulationTests|AppleContainerTests|GatewayTransportTests|EngineSelectionTests|RelayArgvTests'
