#include "workflow/definition.hpp"
