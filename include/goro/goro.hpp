// goro: Go's G/M/P scheduler for C++. This header brings in everything.
#pragma once

#include "goro/blocking.hpp"
#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/debug.hpp"
#include "goro/fiber_local.hpp"
#include "goro/future.hpp"
#include "goro/go.hpp"
#include "goro/io.hpp"
#include "goro/net.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/sync.hpp"
#include "goro/this_fiber.hpp"
#include "goro/time.hpp"
#include "goro/trace.hpp"
#include "goro/version.hpp"
