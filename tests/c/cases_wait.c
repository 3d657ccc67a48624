/*
 * cases_wait.c - the C suite's cases for wait.
 */
#include "costack.h"
#include "harness.h"

const HarnessCase harness_cases_wait[] = {
    {NULL, NULL}
};

const HarnessChild harness_children_wait[] = {
    {NULL, NULL}
};
