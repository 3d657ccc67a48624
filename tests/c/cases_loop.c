/*
 * cases_loop.c - the C suite's cases for loop.
 */
#include "costack.h"
#include "harness.h"

const HarnessCase harness_cases_loop[] = {
    {NULL, NULL}
};

const HarnessChild harness_children_loop[] = {
    {NULL, NULL}
};
