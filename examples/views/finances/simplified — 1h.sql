select date_trunc('month', booked_at) as month, account, sum(amount) as amount
from finances.transactions_raw
group by 1, 2
