// overflow_test.cpp compiled with the options goro::goro exports.
#define GORO_OVERFLOW_SUITE OverflowWithProbing
#include "overflow/overflow_test.cpp"
