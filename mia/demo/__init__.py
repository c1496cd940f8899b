"""`mia demo`: whole audited auctions on one machine, numeric (`numeric`) and instruction text (`text`)."""
