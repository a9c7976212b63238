// Public surface of @longshore/claimer.
