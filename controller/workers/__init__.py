"""Poll workers: who may log in to the station (roster), what each role may do
(permissions), their logged-in sessions, and the command that enrols them."""
