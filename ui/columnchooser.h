#pragma once

#include <QObject>

class QHeaderView;
class QMenu;

// Which columns of a table show: a menu of the header's sections, each checkable, on the
// header's context menu (and wherever menu() is put). Driven by the model's header data,
// so columns that others add to the model appear in it too. The last shown column cannot
// be hidden. Hidden columns persist with the header's saveState(). Main thread.
class ColumnChooser : public QObject
{
    Q_OBJECT
public:
    explicit ColumnChooser(QHeaderView *header);

    // The menu, filled from the model's header when it is about to show.
    QMenu *menu() const { return m_menu; }
    // Fills the menu now (what showing it does).
    void refresh();

private:
    QHeaderView *m_header;
    QMenu *m_menu;
};
