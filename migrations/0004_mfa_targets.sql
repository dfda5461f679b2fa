-- Where an out-of-band method delivers its codes (E.164 phone or email
-- address), verified at enrollment.
ALTER TABLE mfa_methods ADD COLUMN target TEXT;
