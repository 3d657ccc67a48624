/*
 * cases_lock.c - the C suite's cases for lock.
 */
#include "costack.h"
#include "harness.h"

const HarnessCase harness_cases_lock[] = {
    {NULL, NULL}
};

const HarnessChild harness_children_lock[] = {
    {NULL, NULL}
};
