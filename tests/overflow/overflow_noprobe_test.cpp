// overflow_test.cpp compiled without stack probing (see CMakeLists.txt).
#define GORO_OVERFLOW_SUITE OverflowWithoutProbing
#include "overflow/overflow_test.cpp"
