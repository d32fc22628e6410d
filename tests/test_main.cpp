// The doctest main shared by every test program. Tests use fixed seeds and print them on failure.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
