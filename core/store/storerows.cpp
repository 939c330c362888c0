// StoreDatabase: writing rows (specs, tasks as JSON text, submissions) and deleting them.
#include "storesql.h"

#include "storecodec.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QStringList>

#include <charconv>
#include <cmath>
#include <limits>

using namespace StoreSql;

namespace {

QVariant textValue(const QString &text)
{
    return text.isEmpty() ? QVariant() : QVariant(text);
}

constexpr const char *OptionalColumns[OptionalCount] = {
    "sequence", "submitted_at", "started_at",  "finished_at", "progress", "status",
    "result",   "error",        "transitions", "stack",       "log_tail",
};

} // namespace

// The SQL of the rows of `shape`, its one placeholder the JSON array of the rows.
QString StoreSql::rowsStatement(quint32 shape)
{
    int next = 0;
    auto value = [&next] { return QStringLiteral("json_extract(j.v, '$[%1]')").arg(next++); };
    const QString rows =
        QStringLiteral("WITH j(v) AS MATERIALIZED (SELECT value FROM json_each(CAST(? AS TEXT))) ");
    const auto kind = RowKind(shape & KindMask);
    const QString id = value();
    QStringList set; // what an update sets
    if (kind == RowKind::Live) {
        for (int column : {Stack, LogTail}) {
            if (shape & (column == Stack ? StackWritten : LogTailWritten))
                set.append(QLatin1String(OptionalColumns[column]) + QStringLiteral(" = ") +
                           (shape & hasValue(column) ? value() : QStringLiteral("NULL")));
        }
        return rows + QStringLiteral("UPDATE tasks SET %1 FROM j WHERE tasks.id = %2")
                          .arg(set.join(QStringLiteral(", ")), id);
    }
    QStringList columns{QStringLiteral("id"), QStringLiteral("spec_id"),
                        QStringLiteral("max_attempts")};
    QStringList values{id};
    if (kind == RowKind::Insert) {
        values.append(value());
        values.append(value());
    } else {
        values.append({QStringLiteral("-1"), QStringLiteral("0")}); // never kept: writeTasks()
    }
    const QString state = taskStateName(TaskState((shape & StateMask) >> StateShift));
    columns.append(
        {QStringLiteral("priority"), QStringLiteral("attempt"), QStringLiteral("state")});
    values.append({value(), value(), u'\'' + state + u'\''});
    for (const char *column : {"priority", "attempt", "state"})
        set.append(QStringLiteral("%1 = excluded.%1").arg(QLatin1String(column)));
    for (int column = 0; column < OptionalCount; ++column) {
        const QString name = QLatin1String(OptionalColumns[column]);
        const bool present = shape & hasValue(column);
        if (kind == RowKind::Update) {
            if ((column == Stack && !(shape & StackWritten)) ||
                (column == LogTail && !(shape & LogTailWritten)) ||
                (column == Transitions && !present))
                continue;
            set.append(column == Transitions
                           ? QStringLiteral("transitions = ltrim(transitions || ' ' ||"
                                            " excluded.transitions)")
                           : QStringLiteral("%1 = excluded.%1").arg(name));
        }
        columns.append(name);
        if (present)
            values.append(value());
        else
            values.append(column == Transitions ? QStringLiteral("''") : QStringLiteral("NULL"));
    }
    const QString into =
        QStringLiteral("INTO tasks (%1) SELECT %2 FROM j")
            .arg(columns.join(QStringLiteral(", ")), values.join(QStringLiteral(", ")));
    // A task id is reused only when the store holds older tasks than the engine was given
    // back (Engine::restore continues after the highest id it got).
    if (kind == RowKind::Insert)
        return rows + QStringLiteral("INSERT OR REPLACE ") + into;
    // An upsert rather than UPDATE ... FROM, which first copies the rows it joins.
    return rows + QStringLiteral("INSERT ") + into +
           QStringLiteral(" WHERE true ON CONFLICT(id) DO UPDATE SET ") +
           set.join(QStringLiteral(", "));
}

namespace {

void appendDigits(std::string &out, qint64 value)
{
    char text[24];
    const char *end = std::to_chars(text, text + sizeof text, value).ptr;
    out.append(text, size_t(end - text));
}

// Values are appended each with a leading ',' (see TaskRows::add).
void appendInteger(std::string &out, qint64 value)
{
    out += ',';
    appendDigits(out, value);
}

// Seventeen significant digits: SQLite reads back the same double (its own conversion
// is not always correctly rounded, so the shortest form would not do).
void appendReal(std::string &out, double value)
{
    if (std::isnan(value)) {
        out += ",null"; // what binding a NaN stores
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? ",9e999" : ",-9e999"; // read back as infinity
        return;
    }
    char text[40];
    text[0] = ',';
    const char *end =
        std::to_chars(text + 1, text + sizeof text, value, std::chars_format::general, 17).ptr;
    out.append(text, size_t(end - text));
}

// Appends `text` as a JSON string, in UTF-8. Valid UTF-16 comes back exactly (a lone
// surrogate, which UTF-8 cannot hold, becomes U+FFFD). Returns false when `text` holds
// a NUL: SQLite's JSON functions end a string at "\u0000".
bool appendString(std::string &out, QStringView text)
{
    static constexpr char hex[] = "0123456789abcdef";
    char buffer[256];
    char *o = buffer;
    *o++ = ',';
    *o++ = '"';
    bool nul = false;
    const char16_t *p = text.utf16();
    const char16_t *const end = p + text.size();
    while (p < end) {
        if (o > buffer + sizeof buffer - 8) { // room for one more unit and the quote
            out.append(buffer, size_t(o - buffer));
            o = buffer;
        }
        const char16_t c = *p++;
        if (c < 0x80) {
            if (c >= 0x20 && c != u'"' && c != u'\\') {
                *o++ = char(c);
                continue;
            }
            *o++ = '\\';
            switch (c) {
            case u'"':
                *o++ = '"';
                break;
            case u'\\':
                *o++ = '\\';
                break;
            case u'\n':
                *o++ = 'n';
                break;
            case u'\t':
                *o++ = 't';
                break;
            case u'\r':
                *o++ = 'r';
                break;
            default: // the other control characters
                nul = nul || c == 0;
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 0xf];
            }
        } else if (c < 0x800) {
            *o++ = char(0xc0 | (c >> 6));
            *o++ = char(0x80 | (c & 0x3f));
        } else if (QChar::isHighSurrogate(c) && p < end && QChar::isLowSurrogate(*p)) {
            const char32_t u = QChar::surrogateToUcs4(c, *p++);
            *o++ = char(0xf0 | (u >> 18));
            *o++ = char(0x80 | ((u >> 12) & 0x3f));
            *o++ = char(0x80 | ((u >> 6) & 0x3f));
            *o++ = char(0x80 | (u & 0x3f));
        } else {
            const char16_t u = QChar::isSurrogate(c) ? char16_t(0xfffd) : c;
            *o++ = char(0xe0 | (u >> 12));
            *o++ = char(0x80 | ((u >> 6) & 0x3f));
            *o++ = char(0x80 | (u & 0x3f));
        }
    }
    *o++ = '"';
    out.append(buffer, size_t(o - buffer));
    return !nul;
}

// Appends the value of a text column unless it is NULL (empty, as textValue() binds
// it), and returns its shape bit; `exact` is cleared when the text holds a NUL.
quint32 appendText(std::string &out, int column, const QString &text, bool *exact = nullptr)
{
    if (text.isEmpty())
        return 0;
    const bool whole = appendString(out, text);
    if (exact)
        *exact = *exact && whole;
    return hasValue(column);
}

// The result column: StoreCodec::resultText, without making a QString for an integer.
quint32 appendResult(std::string &out, const QJsonValue &result)
{
    if (const auto integer = StoreCodec::integerResult(result)) {
        char text[32] = {',', '"'};
        char *end = std::to_chars(text + 2, text + sizeof text - 1, *integer).ptr;
        *end++ = '"';
        out.append(text, size_t(end - text));
        return hasValue(Result);
    }
    return appendText(out, Result, StoreCodec::resultText(result));
}

// Appends priority, attempt and the optional values a task row has; returns the shape
// bits of the state and of those values.
quint32 appendSnapshot(std::string &out, const StoreDatabase::TaskRow &row, bool *exact)
{
    const TaskSnapshot &s = *row.values;
    quint32 shape = quint32(s.state) << StateShift;
    appendInteger(out, s.priority);
    appendInteger(out, s.attempt);
    auto integer = [&](int column, qint64 value, bool present) {
        if (present) {
            appendInteger(out, value);
            shape |= hasValue(column);
        }
    };
    integer(Sequence, s.sequence, true);
    integer(SubmittedAt, s.submittedAtMs, s.submittedAtMs >= 0);
    integer(StartedAt, s.startedAtMs, s.startedAtMs >= 0);
    integer(FinishedAt, s.finishedAtMs, s.finishedAtMs >= 0);
    if (s.progress >= 0) { // never set is -1 (and a NaN stays NULL, as bound)
        appendReal(out, s.progress);
        shape |= hasValue(Progress);
    }
    shape |= appendText(out, Status, s.status, exact);
    shape |= appendResult(out, s.result);
    shape |= appendText(out, Error, s.error, exact);
    shape |= appendText(out, Transitions, row.transitions);
    if (row.stack)
        shape |= StackWritten | appendText(out, Stack, *row.stack);
    if (row.logTail)
        shape |= LogTailWritten | appendText(out, LogTail, *row.logTail);
    return shape;
}

} // namespace

// The statement of a shape of task rows, prepared the first time; on failure, the
// query that failed (and rows[shape] is null).
QSqlQuery *StoreDatabase::Statements::rowStatement(quint32 shape)
{
    std::unique_ptr<QSqlQuery> &query = rows[shape];
    if (query)
        return nullptr;
    auto made = std::make_unique<QSqlQuery>(db);
    made->setForwardOnly(true);
    if (!made->prepare(rowsStatement(shape))) {
        failed = std::move(made);
        return failed.get();
    }
    query = std::move(made);
    return nullptr;
}

qint64 StoreDatabase::insertSpec(const TaskSpec &spec)
{
    QSqlQuery &q = m_statements->insertSpec;
    q.addBindValue(spec.file);
    q.addBindValue(StoreCodec::kindName(spec.kind));
    q.addBindValue(StoreCodec::stringsText(spec.command));
    q.addBindValue(spec.name);
    q.addBindValue(spec.group);
    q.addBindValue(spec.priority);
    q.addBindValue(spec.timeoutMs);
    q.addBindValue(spec.retries);
    q.addBindValue(spec.retryDelayMs);
    q.addBindValue(spec.memoryBytes);
    q.addBindValue(StoreCodec::argsText(spec.args));
    q.addBindValue(spec.source);
    if (!q.exec()) {
        fail(q);
        return 0;
    }
    const qint64 row = q.lastInsertId().toLongLong();
    q.finish();
    return row;
}

// ---- TaskRows ----

void StoreDatabase::TaskRows::insert(const TaskRow &row)
{
    const TaskSnapshot &s = *row.values;
    m_values.clear();
    appendInteger(m_values, qint64(row.id));
    appendInteger(m_values, row.specRow);
    appendInteger(m_values, s.maxAttempts);
    bool exact = true;
    add(quint32(RowKind::Insert) | StackWritten | LogTailWritten |
        appendSnapshot(m_values, row, &exact));
    if (!exact)
        m_exact.push_back({row.id, s.status, s.error});
}

void StoreDatabase::TaskRows::update(const TaskRow &row)
{
    m_values.resize(0);
    appendInteger(m_values, qint64(row.id));
    bool exact = true;
    add(quint32(RowKind::Update) | appendSnapshot(m_values, row, &exact));
    if (!exact)
        m_exact.push_back({row.id, row.values->status, row.values->error});
}

void StoreDatabase::TaskRows::updateLive(TaskId id, const std::optional<QString> &stack,
                                         const std::optional<QString> &logTail)
{
    if (!stack && !logTail)
        return;
    m_values.resize(0);
    appendInteger(m_values, qint64(id));
    quint32 shape = quint32(RowKind::Live);
    if (stack)
        shape |= StackWritten | appendText(m_values, Stack, *stack);
    if (logTail)
        shape |= LogTailWritten | appendText(m_values, LogTail, *logTail);
    add(shape);
}

// The rows of `shape` that the next row goes to.
StoreDatabase::TaskRows::Rows &StoreDatabase::TaskRows::rowsOf(quint32 shape)
{
    constexpr int ChunkRows = 8192;
    if (m_last >= m_rows.size() || m_rows[m_last].shape != shape) {
        m_last = m_rows.size();
        for (size_t i = 0; i < m_rows.size(); ++i) {
            if (m_rows[i].shape == shape)
                m_last = i; // the last of them, the one not full if any
        }
    }
    if (m_last == m_rows.size() || m_rows[m_last].count >= ChunkRows) {
        m_last = m_rows.size();
        m_rows.push_back(Rows{shape, 0, {}});
    }
    return m_rows[m_last];
}

// Adds the row in m_values to the rows of `shape`.
void StoreDatabase::TaskRows::add(quint32 shape)
{
    Rows &rows = rowsOf(shape);
    rows.json += rows.json.empty() ? "[[" : ",[";
    rows.json.append(m_values, 1); // without the first ','
    rows.json += ']';
    ++rows.count;
}

void StoreDatabase::TaskRows::clear()
{
    m_rows.clear();
    m_last = 0;
    m_exact.clear();
}

QSqlQuery *StoreDatabase::rowStatement(quint32 shape)
{
    if (QSqlQuery *failed = m_statements->rowStatement(shape)) {
        fail(*failed);
        return nullptr;
    }
    return m_statements->rows[shape].get();
}

// Runs `q` with the array of rows `rows` (closing it) as its value.
bool StoreDatabase::execRows(QSqlQuery &q, std::string &rows)
{
    rows += ']';
    // A blob (UTF-8 as it is, read as text: the CAST in the statement), not copied.
    q.bindValue(0, QByteArray::fromRawData(rows.data(), qsizetype(rows.size())));
    const bool ok = q.exec() || fail(q);
    q.finish();
    q.bindValue(0, QVariant()); // lets go of `rows`
    return ok;
}

bool StoreDatabase::writeTasks(TaskRows &rows)
{
    bool ok = true;
    bool updated = false;
    // A task has one row in a transaction: the order of the rows does not matter.
    for (size_t i = 0; ok && i < rows.m_rows.size(); ++i) {
        TaskRows::Rows &some = rows.m_rows[i];
        const auto kind = RowKind(some.shape & KindMask);
        QSqlQuery *q = rowStatement(some.shape);
        ok = q && execRows(*q, some.json);
        updated = updated || kind == RowKind::Update;
    }
    if (ok && updated) {
        // An update never makes a row: where one was missing, its upsert inserted it with
        // spec_id -1 (and max_attempts 0), which no row has otherwise.
        QSqlQuery &q = m_statements->removeMade;
        ok = q.exec() || fail(q);
        q.finish();
    }
    for (size_t i = 0; ok && i < rows.m_exact.size(); ++i) {
        const TaskRows::Exact &exact = rows.m_exact[i];
        QSqlQuery &q = m_statements->updateExact;
        q.addBindValue(textValue(exact.status));
        q.addBindValue(textValue(exact.error));
        q.addBindValue(qint64(exact.id));
        ok = q.exec() || fail(q);
        q.finish();
    }
    rows.clear();
    return ok;
}

bool StoreDatabase::insertSubmissions(const std::vector<SubmittedRun> &runs)
{
    if (runs.empty())
        return true;
    std::string text;
    text.reserve(runs.size() * 64);
    for (const SubmittedRun &run : runs) {
        text += text.empty() ? "[[" : "],[";
        appendDigits(text, qint64(run.firstId));
        for (qint64 value : {run.count, run.specRow, qint64(run.maxAttempts), qint64(run.priority),
                             run.firstSequence, run.submittedAtMs})
            appendInteger(text, value);
    }
    text += "]]";
    QSqlQuery &q = m_statements->insertSubmission;
    q.bindValue(0, QByteArray::fromRawData(text.data(), qsizetype(text.size())));
    const bool ok = q.exec() || fail(q);
    q.finish();
    q.bindValue(0, QVariant());
    return ok;
}

bool StoreDatabase::materializeSubmissions()
{
    for (QSqlQuery *q : {&m_statements->materializeSubmissions, &m_statements->deleteSubmissions}) {
        if (!q->exec())
            return fail(*q);
        q->finish();
    }
    return true;
}

std::optional<StoreDatabase::StoredTask> StoreDatabase::storedTask(TaskId id)
{
    QSqlQuery &q = m_statements->storedTask;
    q.addBindValue(qint64(id));
    if (!q.exec()) {
        fail(q);
        return std::nullopt;
    }
    std::optional<StoredTask> stored;
    if (q.next()) {
        stored = StoredTask{
            StoreCodec::stateFromName(q.value(0).toString()).value_or(TaskState::Pending),
            q.value(1).toLongLong(), StoreCodec::stringsFromText(q.value(2).toString())};
    }
    q.finish();
    return stored;
}

bool StoreDatabase::deleteTasks(const std::vector<TaskId> &ids, std::set<qint64> *specRows)
{
    if (ids.empty())
        return true;
    std::string text;
    for (TaskId id : ids)
        appendInteger(text, qint64(id));
    text[0] = '[';
    text += ']';
    const QByteArray list = QByteArray::fromRawData(text.data(), qsizetype(text.size()));
    QSqlQuery &specs = m_statements->specsOfTasks;
    specs.addBindValue(list);
    if (!specs.exec())
        return fail(specs);
    while (specs.next())
        specRows->insert(specs.value(0).toLongLong());
    specs.finish();
    for (QSqlQuery *q : {&m_statements->deleteTasks, &m_statements->rememberForgotten,
                         &m_statements->deleteDependencies}) {
        q->addBindValue(list);
        if (!q->exec())
            return fail(*q);
        q->finish();
    }
    return true;
}

bool StoreDatabase::writeDependencies(const std::vector<std::pair<TaskId, QString>> &rows)
{
    if (rows.empty())
        return true;
    QJsonArray array;
    for (const auto &[id, after] : rows)
        array.append(QJsonArray{qint64(id), after});
    QSqlQuery &q = m_statements->writeDependencies;
    q.addBindValue(QJsonDocument(array).toJson(QJsonDocument::Compact));
    const bool ok = q.exec() || fail(q);
    q.finish();
    return ok;
}

bool StoreDatabase::deleteSpecIfUnused(qint64 specRow, bool *deleted)
{
    QSqlQuery &q = m_statements->deleteSpecIfUnused;
    q.addBindValue(specRow);
    q.addBindValue(specRow);
    if (!q.exec())
        return fail(q);
    *deleted = q.numRowsAffected() > 0;
    q.finish();
    return true;
}
