#include "taskqueue.h"

#include <algorithm>

#include <QStringList>

#include <climits>
#include <vector>

void TaskQueue::push(TaskId id, const QString &group, int priority, qint64 sequence)
{
    const Key key{priority, sequence, id};
    Group &g = m_groups[group];
    g.pending.insert(key);
    m_where.insert(id, Place{&g, key});
}

bool TaskQueue::remove(TaskId id)
{
    auto it = m_where.find(id);
    if (it == m_where.end())
        return false;
    it->group->pending.erase(it->key);
    m_where.erase(it);
    return true;
}

std::optional<TaskId> TaskQueue::takeNext(const ConcurrencyLimit &limit)
{
    if (m_paused || m_where.isEmpty())
        return std::nullopt;
    // Candidates: groups that may start a task now, whose head has the best priority.
    std::vector<std::pair<const QString *, Group *>> candidates;
    int best = INT_MIN;
    for (auto &[name, group] : m_groups) {
        if (group.pending.empty() || group.paused)
            continue;
        if (group.slotOwner != &limit) {
            group.slotOwner = &limit;
            group.slot = limit.slot(name);
        }
        if (!limit.canStart(group.slot))
            continue;
        const int head = group.pending.begin()->priority;
        if (head < best)
            continue;
        if (head > best) {
            best = head;
            candidates.clear();
        }
        candidates.emplace_back(&name, &group);
    }
    if (candidates.empty())
        return std::nullopt;
    Group *chosen = candidates.front().second;
    if (candidates.size() > 1) {
        // Smooth weighted round-robin (as nginx balances upstreams).
        int total = 0;
        for (auto &[name, group] : candidates) {
            group->currentWeight += group->weight;
            total += group->weight;
            if (group->currentWeight > chosen->currentWeight)
                chosen = group;
        }
        chosen->currentWeight -= total;
    }
    const TaskId id = chosen->pending.begin()->id;
    chosen->pending.erase(chosen->pending.begin());
    m_where.remove(id);
    return id;
}

void TaskQueue::reinsert(TaskId id, int priority, qint64 sequence)
{
    Place &place = m_where[id];
    place.group->pending.erase(place.key);
    place.key = Key{priority, sequence, id};
    place.group->pending.insert(place.key);
}

bool TaskQueue::setPriority(TaskId id, int priority)
{
    auto it = m_where.constFind(id);
    if (it == m_where.constEnd())
        return false;
    reinsert(id, priority, it->key.sequence);
    return true;
}

std::optional<int> TaskQueue::moveToTop(TaskId id)
{
    if (!m_where.contains(id))
        return std::nullopt;
    int top = INT_MIN;
    for (const auto &[name, group] : m_groups)
        if (!group.pending.empty())
            top = qMax(top, group.pending.begin()->priority);
    reinsert(id, top, --m_topSeq);
    return top;
}

std::optional<int> TaskQueue::moveToBottom(TaskId id)
{
    if (!m_where.contains(id))
        return std::nullopt;
    int bottom = INT_MAX;
    for (const auto &[name, group] : m_groups)
        if (!group.pending.empty())
            bottom = qMin(bottom, group.pending.rbegin()->priority);
    reinsert(id, bottom, nextSequence());
    return bottom;
}

qint64 TaskQueue::sequenceOf(TaskId id) const
{
    auto it = m_where.constFind(id);
    return it == m_where.constEnd() ? 0 : it->key.sequence;
}

std::optional<int> TaskQueue::moveBefore(TaskId id, TaskId before, std::vector<TaskId> *renumbered)
{
    if (id == before || !m_where.contains(id) || !m_where.contains(before))
        return std::nullopt;
    const Key target = m_where.value(before).key;
    // Shift `before` and everything after it with the same priority one step later, by
    // giving `id` the target's sequence and renumbering the tail of that priority band.
    std::vector<Key> band;
    for (auto &[name, group] : m_groups)
        for (const Key &k : group.pending)
            if (k.priority == target.priority && k.sequence >= target.sequence && k.id != id)
                band.push_back(k);
    std::sort(band.begin(), band.end());
    reinsert(id, target.priority, target.sequence);
    for (const Key &k : band) {
        reinsert(k.id, k.priority, nextSequence());
        if (renumbered)
            renumbered->push_back(k.id);
    }
    return target.priority;
}

void TaskQueue::setGroupPaused(const QString &group, bool paused)
{
    m_groups[group].paused = paused;
}

bool TaskQueue::isGroupPaused(const QString &group) const
{
    auto it = m_groups.find(group);
    return it != m_groups.end() && it->second.paused;
}

QStringList TaskQueue::pausedGroups() const
{
    QStringList names;
    for (const auto &[name, group] : m_groups)
        if (group.paused)
            names.append(name);
    return names;
}

void TaskQueue::setGroupWeight(const QString &group, int weight)
{
    m_groups[group].weight = qMax(1, weight);
}

int TaskQueue::size(const QString &group) const
{
    auto it = m_groups.find(group);
    return it == m_groups.end() ? 0 : int(it->second.pending.size());
}

QHash<TaskId, int> TaskQueue::positions() const
{
    std::vector<Key> all;
    all.reserve(m_where.size());
    for (const auto &[name, group] : m_groups)
        all.insert(all.end(), group.pending.begin(), group.pending.end());
    std::sort(all.begin(), all.end());
    QHash<TaskId, int> places;
    places.reserve(qsizetype(all.size()));
    for (size_t i = 0; i < all.size(); ++i)
        places.insert(all[i].id, int(i) + 1);
    return places;
}

int TaskQueue::position(TaskId id) const
{
    auto it = m_where.constFind(id);
    if (it == m_where.constEnd())
        return 0;
    int ahead = 0;
    for (const auto &[name, group] : m_groups)
        for (const Key &k : group.pending) {
            if (!(k < it->key))
                break;
            ++ahead;
        }
    return ahead + 1;
}
