-- One event: remember its id (exactly once) and move the customer's balance, in one transaction.
\set customer random(1, 1000)
\set minutes random(1, 120)
BEGIN;
INSERT INTO seen VALUES (:customer, md5(random()::text), :minutes) ON CONFLICT DO NOTHING;
INSERT INTO balance VALUES (:customer, :minutes, :minutes)
  ON CONFLICT (customer) DO UPDATE SET points = balance.points + EXCLUDED.points, lifetime = balance.lifetime + EXCLUDED.lifetime;
COMMIT;
