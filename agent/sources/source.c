/* Helpers shared by every task source and the engine (agent/sources/source.h): ownership
 * of the updates a source hands to the engine. */
#include "source.h"

void
source_update_free (struct source_update *u)
{
  if (u == NULL)
    return;
  for (size_t i = 0; i < u->n_tasks; i++)
    {
      free (u->tasks[i].task_id);
      json_object_put (u->tasks[i].definition);
      json_object_put (u->tasks[i].metadata);
    }
  free (u->tasks);
  free (u->source);
  free (u);
}
