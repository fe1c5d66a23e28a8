select t.id, t.booked_at, t.account, t.amount, p.name as booked_by
from finances.transactions_raw t
left join first.people p on p.id = t.person_id
