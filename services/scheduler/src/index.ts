// Public surface of @longshore/scheduler.
